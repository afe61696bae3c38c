"""The Qt application: experiment controller, sources, protocols, main window, command line."""
