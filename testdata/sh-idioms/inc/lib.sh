lib_value='from lib'
lib_esc=a\ b
if [ -z "${STOP_EARLY:-}" ]; then
	lib_more=yes
fi
[ -n "${SKIP_REST:-}" ] || return 0
lib_after_return=should-not-be-set
