# Parameter expansions, quoted and not.
s='a*b.c.d'
p1=${UNSET:-x\ y}
p2="${UNSET:-x\ y}"
p3=${UNSET:-'q r'}
p4=${UNSET:-"\$x"}
p5="${UNSET:-\$x}"
p6=${UNSET-\}}
p7=${s%.*}
p8=${s%%.*}
p9=${s#*.}
p10=${s##*.}
p11=${s%"*"b.c.d}
p12=${s%'.d'}
p13=${s#"a*"}
p14=${s#a\*}
p15=${#s}
p16=${UNSET:=assigned}
p17=${p16:+alt}
p18=${EMPTY=}
p19="${s%".c.d"}"
p20=${s%\.d}
p21=${UNSET:-a\\b}
p22="${UNSET:-a\\b}"
p23=${UNSET:-~}
p24="${UNSET:-'x'}"
p25=${s#?}
p26=${s%[.]d}
p27=${s%"[.]d"}
set -- one "two three" four
p28=$#
p29="$2"
p30=$*
p31="$@"
p32=${3}
p33=/${p1+\\${UNSET-"\}a"=\*_}Y/9}
p34="${UNSET:-'$HOME'}"
p35=${UNSET:-a:~/b}
p36="${UNSET:-a:~/b}"
# $[ is no expansion to dash, even inside '…' within "${x-…}"
dq_arith="${U-'a$[b'}"
