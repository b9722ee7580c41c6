"""Cost measurement: meters (time, memory, device, energy), system information, statistics."""
