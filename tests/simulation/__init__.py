"""The seeded fault simulation: ``python -m tests.simulation --seeds 0-49`` (PostgreSQL), or the pytest module
``tests/simulation/test_simulation.py``."""
