"""AI-assisted mediation: cases, private constraints, MESO proposals and a human review gate.

Everything the AI writes becomes a draft in the mediator's review queue; a party sees it only once
the mediator approves it. Package values are computed by code (meso.py) from each party's private
constraints; a language model writes only the rationale text, which is checked for leaks.
"""
