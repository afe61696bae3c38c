"""Parameter explorations (the pypet trajectory API) stored in HDF5. No Qt."""
