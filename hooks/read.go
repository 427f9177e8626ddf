package hooks

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// read as dash has it. mvdan.cc/sh/v3 (v3.14.1, expand.ReadFields)
// splits a line as if every IFS character were white space: `IFS=:
// read a b` of "x::y" gives b "y" where dash and bash give ":y", and the
// last variable loses a trailing delimiter it must keep ("b:c:"). It also
// takes bash's options (-t, -n, -d, -s, -a), which dash refuses.
// servicectl reads the line itself, one byte at a time (what follows the
// line stays for the next command), and splits it by POSIX's rules.

const readCmd = "servicectl-builtin-read"

// builtinRead is `read [-r] [-p PROMPT] NAME...`.
func (s *Session) builtinRead(ctx context.Context, hc interp.HandlerContext, args []string) error {
	raw := false
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-"; i++ {
		switch a := args[i]; {
		case a == "--":
			i++
			goto names
		case a == "-r":
			raw = true
		case a == "-p" && i+1 < len(args):
			i++ // the prompt: dash shows it only to an interactive shell
		default:
			fmt.Fprintf(hc.Stderr, "read: Illegal option %s\n", a)
			return exitCode(2)
		}
	}
names:
	names := args[i:]
	if len(names) == 0 {
		fmt.Fprintln(hc.Stderr, "read: arg count")
		return exitCode(2)
	}
	for _, n := range names {
		if !syntax.ValidName(n) {
			fmt.Fprintf(hc.Stderr, "read: %s: bad variable name\n", n)
			return exitCode(2)
		}
	}
	line, escaped, eof, err := readLine(ctx, hc.Stdin, raw)
	if err != nil {
		return err
	}
	ifs := " \t\n"
	if v := hc.Env.Get("IFS"); v.IsSet() {
		ifs = v.String()
	}
	values := splitRead(line, escaped, ifs, len(names))
	assign := make([][2]string, len(names))
	for k, n := range names {
		assign[k] = [2]string{n, values[k]}
	}
	if err := setShellVars(ctx, hc, assign, false); err != nil {
		return err
	}
	if eof {
		return exitCode(1)
	}
	return nil
}

// readLine reads up to a newline. Without raw, a backslash quotes the
// next character (escaped marks it) and a backslash-newline joins lines.
func readLine(ctx context.Context, in io.Reader, raw bool) (line []rune, escaped []bool, eof bool, err error) {
	if in == nil {
		return nil, nil, true, nil
	}
	if f, ok := in.(*os.File); ok {
		// A read that blocks past the script's end or time limit.
		stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
		defer stop()
	}
	var buf []byte
	b := make([]byte, 1)
	quoted := false
	for {
		n, rerr := in.Read(b)
		if n == 0 {
			if rerr == nil {
				continue
			}
			if ctx.Err() != nil {
				return nil, nil, false, ctx.Err()
			}
			eof = true
			break
		}
		c := b[0]
		if quoted {
			quoted = false
			if c == '\n' {
				continue // a continued line
			}
			buf = append(buf, c)
			escaped = append(escaped, true)
			continue
		}
		if c == '\\' && !raw {
			quoted = true
			continue
		}
		if c == '\n' {
			break
		}
		buf = append(buf, c)
		escaped = append(escaped, false)
	}
	// Bytes, not runes, carry the escape marks: IFS characters are
	// bytes in dash.
	line = make([]rune, len(buf))
	for k, c := range buf {
		line[k] = rune(c)
	}
	return line, escaped, eof, nil
}

// splitRead splits a line into n values by POSIX's rules for read: IFS
// white space around a field is dropped, each other IFS character ends
// one field, and the last variable takes the rest of the line less its
// trailing IFS white space, and less a single trailing delimiter when
// the rest is one field.
func splitRead(line []rune, escaped []bool, ifs string, n int) []string {
	isIFS := func(k int) bool { return !escaped[k] && strings.ContainsRune(ifs, line[k]) }
	isWS := func(k int) bool { return isIFS(k) && strings.ContainsRune(" \t\n", line[k]) }
	text := func(a, b int) string {
		bs := make([]byte, 0, b-a)
		for k := a; k < b; k++ {
			bs = append(bs, byte(line[k]))
		}
		return string(bs)
	}
	out := make([]string, n)
	k := 0
	for k < len(line) && isWS(k) {
		k++
	}
	for v := 0; v < n-1 && k < len(line); v++ {
		start := k
		for k < len(line) && !isIFS(k) {
			k++
		}
		out[v] = text(start, k)
		k = skipDelimiter(k, len(line), isIFS, isWS)
	}
	if k >= len(line) {
		return out
	}
	end := len(line)
	for end > k && isWS(end-1) {
		end--
	}
	// One field and its delimiter: the delimiter goes.
	j := k
	for j < end && !isIFS(j) {
		j++
	}
	if j < end && skipDelimiter(j, end, isIFS, isWS) == end {
		out[n-1] = text(k, j)
	} else {
		out[n-1] = text(k, end)
	}
	return out
}

// skipDelimiter passes one field delimiter from k: IFS white space, at
// most one other IFS character, and the white space after it.
func skipDelimiter(k, end int, isIFS, isWS func(int) bool) int {
	for k < end && isWS(k) {
		k++
	}
	if k < end && isIFS(k) && !isWS(k) {
		k++
		for k < end && isWS(k) {
			k++
		}
	}
	return k
}
