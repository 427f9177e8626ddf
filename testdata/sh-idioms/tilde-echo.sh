# A tilde inside double quotes is a plain character, also as the default
# of ${…:-…}; unquoted it is HOME. echo expands backslash escapes.
HOME=/home/idioms
quoted="${UNSET_T:-~/x}"
quoted_alone="${UNSET_T:-~}"
unquoted=${UNSET_T:-~/y}
inner="${UNSET_T:-a~}"
tab=$(echo 'a\tb')
octal=$(echo 'x\0101y')
cut=$(echo 'kept\cdropped')
