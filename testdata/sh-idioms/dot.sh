# '.' of a file relative to the working directory, and return in it.
. ./inc/lib.sh
d1=$lib_value
d2=$lib_esc
d3=${lib_after_return-unset}
