r1=before
[ -n "${NOT_SET_HERE:-}" ] || return 0
r2=after
