"""Live data in memory and session metadata. No Qt: signals are psygnal signals."""
