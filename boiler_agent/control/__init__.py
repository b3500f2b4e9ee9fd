"""Control laws: from temperatures and a setpoint to watts of heat, pure and clock-free."""
