# Command substitution in backquotes: dash unescapes \\ \` \$ first.
x=`echo \\a b`
y=`echo a\ b`
z=`printf '%s' 'q'`
w=`echo \$HOME`
v=`echo "\\\\"`
