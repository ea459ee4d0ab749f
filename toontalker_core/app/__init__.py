"""The application over the library: the command line (reenact, animate, convert, download) and where
checkpoints are looked for."""
