"""The heater's physics: thermal plants, weather, the wall thermostat and the world they make."""
