package hooks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"servicectl/internal/fsio"
	"strings"

	"mvdan.cc/sh/v3/interp"
)

// builtins is an exec middleware in front of the default handler: sub,
// sub-conf and sub-conf-dir run in-process (SPEC §5.4), everything else
// falls through to a real program.
func (s *Session) builtins(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		hc := interp.HandlerCtx(ctx)
		lookup := func(name string) (string, bool) {
			v := hc.Env.Get(name)
			return v.String(), v.IsSet()
		}
		s.mu.Lock()
		file := s.file()
		s.mu.Unlock()
		where := fmt.Sprintf("%s:%d", file, hc.Pos.Line())
		if s.dry != nil {
			if handled, err := s.dryExec(ctx, hc, args); handled {
				return err
			}
		}
		var err error
		switch args[0] {
		case "sub":
			if len(args) != 1 {
				err = errors.New("sub takes no arguments (it filters stdin to stdout)")
			} else {
				err = Sub(hc.Stdin, hc.Stdout, lookup, "stdin")
			}
		case "sub-conf":
			if len(args) != 2 {
				err = errors.New("usage: sub-conf PATH")
			} else {
				err = SubConf(lookup, args[1])
			}
		case "sub-conf-dir":
			if len(args) != 2 {
				err = errors.New("usage: sub-conf-dir DIR")
			} else {
				err = SubConfDir(lookup, args[1])
			}
		default:
			if err, ok := s.shBuiltin(ctx, hc, args); ok {
				return err
			}
			wrapped, ok, terr := s.trampolineArgs(hc, args)
			if terr != nil {
				fmt.Fprintf(hc.Stderr, "%s: %s: %v\n", where, args[0], terr)
				return interp.NewExitStatus(127)
			}
			if ok {
				args = wrapped
			}
			if notExecutable(hc, args[0]) {
				fmt.Fprintf(hc.Stderr, "%s: %s: Permission denied\n", where, args[0])
				return interp.NewExitStatus(126)
			}
			extra, done, ferr := s.extraFiles()
			if ferr != nil {
				fmt.Fprintf(hc.Stderr, "%s: %s: %v\n", where, args[0], ferr)
				return interp.NewExitStatus(126)
			}
			if extra != nil {
				err, ran := s.execFds(ctx, hc, args, extra)
				done()
				if ran {
					return err
				}
			}
			return next(ctx, args)
		}
		if err != nil {
			fmt.Fprintf(hc.Stderr, "%s: %s: %v\n", where, args[0], err)
			// A rendering failure stops the script: it is never right to
			// start a service on a half-rendered config (SPEC §11 exit 6).
			return &ScriptError{File: file, Line: int(hc.Pos.Line()), Msg: args[0] + ": " + err.Error(), Err: err}
		}
		return nil
	}
}

// UnsetError is a __NAME__ placeholder whose variable is not set.
type UnsetError struct {
	Name, Source string
	Line         int
}

func (e *UnsetError) Error() string {
	return fmt.Sprintf("%s:%d: __%s__: %s is not set (set it in etc/project.conf or the service config)", e.Source, e.Line, e.Name, e.Name)
}

// Sub copies in to out, replacing each __NAME__ (NAME = [A-Z][A-Z0-9_]*)
// with the value of NAME. Values are copied literally: nothing in them is
// ever evaluated, so `$(...)` or quotes in a value stay text.
func Sub(in io.Reader, out io.Writer, lookup func(string) (string, bool), source string) error {
	br := bufio.NewReader(in)
	bw := bufio.NewWriter(out)
	line := 0
	for {
		text, rerr := br.ReadString('\n')
		if len(text) > 0 {
			line++
			res, err := subLine(text, lookup)
			if err != nil {
				return &UnsetError{Name: err.Error(), Source: source, Line: line}
			}
			bw.WriteString(res)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	return bw.Flush()
}

type unsetName string

func (u unsetName) Error() string { return string(u) }

func subLine(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "__") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "__")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if end := nameEnd(s, i+2); end > 0 {
			name := s[i+2 : end]
			v, ok := lookup(name)
			if !ok {
				return "", unsetName(name)
			}
			b.WriteString(s[:i])
			b.WriteString(v)
			s = s[end+2:]
			continue
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
}

// nameEnd finds the shortest NAME ([A-Z][A-Z0-9_]*) starting at j that is
// followed by "__", and returns its end; -1 if there is none.
func nameEnd(s string, j int) int {
	if j >= len(s) || s[j] < 'A' || s[j] > 'Z' {
		return -1
	}
	for k := j + 1; k < len(s); k++ {
		if strings.HasPrefix(s[k:], "__") {
			return k
		}
		c := s[k]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return -1
		}
	}
	return -1
}

// SubConf renders etc/PATH of the project, else ext/etc/PATH, into
// $LOCAL_VAR/etc/PATH, written atomically (SPEC §5.4).
func SubConf(lookup func(string) (string, bool), rel string) error {
	root, ok := lookup("PLAYPEN_ROOT")
	if !ok || root == "" {
		return errors.New("PLAYPEN_ROOT is not set")
	}
	lv, ok := lookup("LOCAL_VAR")
	if !ok || lv == "" {
		lv = filepath.Join(root, "var")
	}
	clean := filepath.Clean(rel)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("%s: path must be relative to etc/ and stay inside it", rel)
	}
	src := filepath.Join(root, "etc", clean)
	if _, err := os.Stat(src); err != nil {
		src = filepath.Join(root, "ext", "etc", clean)
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("%s: found neither etc/%s nor ext/etc/%s", rel, clean, clean)
		}
	}
	return renderFile(src, lv, filepath.Join("etc", clean), lookup)
}

// SubConfDir renders every file under etc/DIR and ext/etc/DIR; the
// project's file wins per path.
func SubConfDir(lookup func(string) (string, bool), dir string) error {
	root, ok := lookup("PLAYPEN_ROOT")
	if !ok || root == "" {
		return errors.New("PLAYPEN_ROOT is not set")
	}
	clean := filepath.Clean(dir)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("%s: directory must be relative to etc/ and stay inside it", dir)
	}
	seen := map[string]bool{}
	found := false
	for _, base := range []string{filepath.Join(root, "etc"), filepath.Join(root, "ext", "etc")} {
		top := filepath.Join(base, clean)
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == top {
					return filepath.SkipDir
				}
				return err
			}
			found = true
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(base, p)
			if seen[rel] {
				return nil
			}
			seen[rel] = true
			return SubConf(lookup, rel)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if !found {
		return fmt.Errorf("%s: found neither etc/%s nor ext/etc/%s", dir, clean, clean)
	}
	return nil
}

// renderFile renders src into base/rel (base is $LOCAL_VAR): the
// directories below base are created and walked without following a
// link, and the file is replaced atomically, so a link planted anywhere
// under $LOCAL_VAR/etc is never written through (issue 23).
func renderFile(src, base, rel string, lookup func(string) (string, bool)) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	// Rename gives atomicity; no fsync: a rendered file is re-rendered at
	// every start, so it need not survive a machine crash.
	return fsio.WriteAtomicBeneath(base, rel, func(out *os.File) error {
		return Sub(in, out, lookup, src)
	}, fi.Mode().Perm())
}
