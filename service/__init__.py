"""oneonone: keeps manager-employee 1:1s healthy."""
