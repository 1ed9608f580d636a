"""Named accounts: users, password checks, login limiting, bearer tokens and partner assignment to
joint patrols.
"""
