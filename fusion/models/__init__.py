"""Model files for the neural engines: manifest (data), store (find, verify, download), CLI."""
