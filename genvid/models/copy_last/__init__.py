"""Copy-last: the trivial baseline every leaderboard ranks against (family)."""
