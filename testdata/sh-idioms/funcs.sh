# Functions, return values, loops, case.
double() { echo $(( $1 * 2 )); }
f1=$(double 21)
greet() {
	name=$1
	return 3
}
greet world
f2=$?
f3=$name
i=0; f4=
while [ $i -lt 4 ]; do f4="$f4$i"; i=$((i + 1)); done
for w in a b "c d"; do f5="$f5[$w]"; done
case "foo.conf" in
	*.txt) f6=txt ;;
	*.conf|*.cfg) f6=conf ;;
esac
case 'a*b' in a\*b) f7=escaped ;; *) f7=other ;; esac
if [ -n "$UNSET" ]; then f8=set; elif true; then f8=elif; else f8=else; fi
f9=$(printf '%s-' a b c)
f10=$(echo "nested $(echo inner)")
unset greet
X=1 : 
f11=$X
