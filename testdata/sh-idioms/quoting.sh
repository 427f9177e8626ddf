# Quoting forms and quote removal (SPEC §3.2).
q1='single'
q2="double"
q3=bare
q4=a\ b
q5=a\'b
q6='it'\''s'
q7="a\$b\\c\"d\`e"
q8="keep \x backslash"
q9=a\\b
q10='echo y >> '\''/var/x'\'''
q11=$'not-dash'
q12=\$HOME
q13=a\"b
q14="multi
line"
q15=a'b'"c"d
q16=\\\\
q17="\\\\"
q18=''
q19=\#notcomment
q20=x\;y
q21=tab\	tab
q22='a\nb'
q23="a\nb"
q24=a\
b
q25="line\
join"
q26=\*
q27=\~
q28=\a\b\c
q29=00$\\
q30=a$\ b
q31=$\$x
