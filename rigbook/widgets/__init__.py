"""Qt views of Rigbook's models. Widgets read models; they never import ``rigbook.app``."""
