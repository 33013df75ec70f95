"""Certificate drivers: the local CA that secures controller <-> agent traffic."""
