"""Recording and plotting of simulated runs: the sample trace and its PNG plot."""
