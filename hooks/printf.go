package hooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/interp"
)

// printf and echo as dash has them (issue 30). Upstream's printf knows
// few conversions and no precision, and its echo takes bash's -e and
// leaves backslashes alone where dash's expands them; the call handler
// renames both to these (session.go `renamed`), configs and hooks alike.

// builtinEcho is dash's echo: a first argument "-n" drops the newline,
// and backslash escapes are expanded as printf's %b does (\c ends all
// output); there is no -e.
func builtinEcho(hc interp.HandlerContext, args []string) error {
	nl := true
	if len(args) > 0 && args[0] == "-n" {
		nl, args = false, args[1:]
	}
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if stop := escapeStr(&b, a); stop {
			hc.Stdout.Write(b.Bytes())
			return nil
		}
	}
	if nl {
		b.WriteByte('\n')
	}
	_, err := hc.Stdout.Write(b.Bytes())
	return writeStatus(err)
}

// writeStatus is the status of a failed write (a closed pipe): 1.
func writeStatus(err error) error {
	if err != nil {
		return interp.NewExitStatus(1)
	}
	return nil
}

// builtinPrintf is dash's printf: the format is applied again while
// arguments remain; a number that does not parse is an error (status 1)
// that prints what did parse; an unknown directive stops it (status 2).
func builtinPrintf(hc interp.HandlerContext, args []string) error {
	// dash reads options first: `--` ends them, and any other word that
	// starts with - is an illegal option (status 2, nothing printed).
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	} else if len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		fmt.Fprintf(hc.Stderr, "printf: Illegal option -%c\n", args[0][1])
		return interp.NewExitStatus(2)
	}
	if len(args) == 0 {
		fmt.Fprintln(hc.Stderr, "printf: usage: printf format [arg ...]")
		return interp.NewExitStatus(2)
	}
	p := &printer{args: args[1:], stderr: hc.Stderr}
	format := args[0]
	for {
		before := len(p.args)
		if stop, err := p.run(format); err != nil || stop {
			hc.Stdout.Write(p.out.Bytes())
			return err
		}
		if len(p.args) == 0 || len(p.args) == before {
			break
		}
	}
	if _, err := hc.Stdout.Write(p.out.Bytes()); err != nil {
		return writeStatus(err)
	}
	if p.bad {
		return interp.NewExitStatus(1)
	}
	return nil
}

type printer struct {
	out    bytes.Buffer
	args   []string
	stderr io.Writer
	bad    bool // a number did not parse: status 1
}

func (p *printer) next() (string, bool) {
	if len(p.args) == 0 {
		return "", false
	}
	a := p.args[0]
	p.args = p.args[1:]
	return a, true
}

// run applies the format once. stop is a %b's \c: no more output.
func (p *printer) run(format string) (stop bool, err error) {
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '\\':
			v, n := escape(format[i+1:], false)
			p.out.WriteString(v)
			i += n
		case c == '%' && i+1 < len(format) && format[i+1] == '%':
			p.out.WriteByte('%')
			i++
		case c == '%':
			n, stop, err := p.directive(format[i:])
			if err != nil || stop {
				return stop, err
			}
			i += n - 1
		default:
			p.out.WriteByte(c)
		}
	}
	return false, nil
}

// directive formats one %... at the start of f and says how long it was.
func (p *printer) directive(f string) (int, bool, error) {
	i := 1
	for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
		i++
	}
	flags := f[1:i]
	width, prec := "", ""
	i, width = p.number(f, i)
	if i < len(f) && f[i] == '.' {
		i, prec = p.number(f, i+1)
		prec = "." + prec
	}
	if i >= len(f) {
		fmt.Fprintf(p.stderr, "printf: %s: missing format character\n", f)
		return 0, false, interp.NewExitStatus(2)
	}
	conv := f[i]
	spec := "%" + flags + width + prec
	arg, _ := p.next()
	switch conv {
	case 'd', 'i':
		fmt.Fprintf(&p.out, spec+"d", p.integer(arg))
	case 'o', 'u', 'x', 'X':
		verb := map[byte]string{'o': "o", 'u': "d", 'x': "x", 'X': "X"}[conv]
		n := uint64(p.integer(arg))
		if n == 0 && (conv == 'x' || conv == 'X') {
			// C's # puts 0x before a non-zero value only; Go's before any.
			spec = strings.ReplaceAll(spec, "#", "")
		}
		fmt.Fprintf(&p.out, spec+verb, n)
	case 'e', 'E', 'f', 'F', 'g', 'G':
		if prec == "" {
			spec += ".6" // C's default precision; Go's %g would print every digit
		}
		verb := string(conv)
		if conv == 'F' {
			verb = "f"
		}
		fmt.Fprintf(&p.out, spec+verb, p.float(arg))
	case 'c':
		ch := "\x00" // dash prints the string's terminating NUL for ''
		if arg != "" {
			ch = arg[:1]
		}
		fmt.Fprintf(&p.out, "%"+flags+width+"s", ch)
	case 's':
		fmt.Fprintf(&p.out, spec+"s", byteTrunc(arg, prec))
	case 'b':
		var b bytes.Buffer
		stop := escapeStr(&b, arg)
		fmt.Fprintf(&p.out, spec+"s", byteTrunc(b.String(), prec))
		if stop {
			return i + 1, true, nil
		}
	default:
		fmt.Fprintf(p.stderr, "printf: %s: invalid directive\n", f[:i+1])
		return 0, false, interp.NewExitStatus(2)
	}
	return i + 1, false, nil
}

// number reads a width or precision at f[i:]: digits, or * taking the
// next argument.
func (p *printer) number(f string, i int) (int, string) {
	if i < len(f) && f[i] == '*' {
		a, _ := p.next()
		return i + 1, strconv.FormatInt(p.integer(a), 10)
	}
	j := i
	for j < len(f) && f[j] >= '0' && f[j] <= '9' {
		j++
	}
	return j, f[i:j]
}

// byteTrunc cuts s to a precision ".N" in bytes, as C's %.Ns does.
func byteTrunc(s, prec string) string {
	if prec == "" {
		return s
	}
	n, _ := strconv.Atoi(prec[1:])
	if n < len(s) {
		return s[:n]
	}
	return s
}

// integer parses a numeric argument as dash does (strtoimax, base 0; 'c
// is c's code). What does not parse is reported and what did is used.
func (p *printer) integer(a string) int64 {
	if v, ok := charValue(a); ok {
		return v
	}
	s := strings.TrimLeft(a, " \t\n")
	end, base, neg := 0, 10, false
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		neg = s[end] == '-'
		end++
	}
	digits := s[end:]
	switch {
	case strings.HasPrefix(digits, "0x") || strings.HasPrefix(digits, "0X"):
		base, digits = 16, digits[2:]
	case strings.HasPrefix(digits, "0") && len(digits) > 1:
		base = 8
	}
	k := 0
	for k < len(digits) && digitValue(digits[k]) < base {
		k++
	}
	if a == "" {
		return 0
	}
	v, err := strconv.ParseUint(digits[:k], base, 64)
	if k == 0 {
		v, err = 0, nil
	}
	var r int64
	switch {
	case errors.Is(err, strconv.ErrRange) || (!neg && v > math.MaxInt64) || (neg && v > 1<<63):
		p.warn(a, "Numerical result out of range")
		r = math.MaxInt64
		if neg {
			r = math.MinInt64
		}
		return r
	case neg:
		r = -int64(v)
	default:
		r = int64(v)
	}
	if k == 0 {
		p.warn(a, "expected numeric value")
	} else if k < len(digits) {
		p.warn(a, "not completely converted")
	}
	return r
}

// float parses a numeric argument as strtod would.
func (p *printer) float(a string) float64 {
	if v, ok := charValue(a); ok {
		return float64(v)
	}
	s := strings.TrimLeft(a, " \t\n")
	if s == "" {
		if a != "" {
			p.warn(a, "expected numeric value")
		}
		return 0
	}
	for k := len(s); k > 0; k-- {
		if v, err := strconv.ParseFloat(s[:k], 64); err == nil || errors.Is(err, strconv.ErrRange) {
			if k < len(s) {
				p.warn(a, "not completely converted")
			}
			return v
		}
	}
	p.warn(a, "expected numeric value")
	return 0
}

func (p *printer) warn(a, why string) {
	fmt.Fprintf(p.stderr, "printf: %s: %s\n", a, why)
	p.bad = true
}

// charValue is printf's 'c and "c: the code of the character after the
// quote.
func charValue(a string) (int64, bool) {
	if len(a) >= 2 && (a[0] == '\'' || a[0] == '"') {
		return int64(a[1]), true
	}
	if len(a) == 1 && (a[0] == '\'' || a[0] == '"') {
		return 0, true
	}
	return 0, false
}

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// escape reads a backslash escape whose text (after the backslash) is s:
// the value and how many bytes of s it used. inStr is %b's and echo's
// reading, where \0 may lead an octal number.
func escape(s string, inStr bool) (string, int) {
	if s == "" {
		return "\\", 0
	}
	n := 0
	if inStr && s[0] == '0' && len(s) > 1 && isOctal(s[1]) {
		n = 1
	}
	switch c := s[n]; {
	case isOctal(c):
		v, k := 0, 0
		for k < 3 && n+k < len(s) && isOctal(s[n+k]) {
			v = v<<3 + int(s[n+k]-'0')
			k++
		}
		return string([]byte{byte(v)}), n + k
	default:
		if r, ok := map[byte]byte{'\\': '\\', 'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[c]; ok {
			return string([]byte{r}), n + 1
		}
	}
	return "\\", n // unknown: the backslash stays, the character follows
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// escapeStr writes s with %b's escapes; stop is \c: no more output.
func escapeStr(b *bytes.Buffer, s string) (stop bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == 'c' {
			return true
		}
		v, n := escape(s[i+1:], true)
		b.WriteString(v)
		i += n
	}
	return false
}
