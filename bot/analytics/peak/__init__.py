"""The peak-hour model: what the waits would be, hour by hour, with and without Kefu."""
