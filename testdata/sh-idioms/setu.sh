# set -u with defaults, set -a exporting.
set -u
u1=${UNSET-default}
u2=${UNSET:-}
set +u
set -a
u3=exported
set +a
u4=${UNSET2}
