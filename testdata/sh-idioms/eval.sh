# eval re-parses its arguments: the same quoting rules apply.
eval 'e1=a\ b'
eval "e2='it'\\''s'"
v=e3
eval "$v=\"dyn value\""
eval e4=\"x\\ y\"
cmd='e5=$(echo hi)'
eval "$cmd"
