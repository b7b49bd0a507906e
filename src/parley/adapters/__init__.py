"""Parley's games in other engines: PettingZoo (``parley[pettingzoo]``) and verifiers (``parley[verifiers]``).

Each adapter serves every game of the environment registry, with its players from the agents floor's registry,
and imports its engine only when used.
"""
