# A literal $ before a line continuation and an escape (FuzzConform).
x=$\
\0y
y=a$\
\\b
z="$\
\$q"
