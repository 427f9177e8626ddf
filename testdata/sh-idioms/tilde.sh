# Tilde expansion, at the start and after ':' in assignments.
t1=~
t2=~/x
t3=~/x:~/y
t4=/a:~/b:~
t5="~/quoted"
t6=\~/esc
t7=a~b
t8=x:~
PATH_LIKE=$HOME:~/bin
