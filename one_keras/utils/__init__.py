"""Small helpers every part of one_keras uses: files, checks, backends,
lazy names."""
