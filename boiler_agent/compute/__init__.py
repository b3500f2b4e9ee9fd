"""The compute side: kernels that make the heat, workers that run them, durable jobs."""
