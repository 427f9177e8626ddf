package hooks

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// cached is a conformed file and the size and time it was read at.
type cached struct {
	mod  time.Time
	size int64
	file *conformed
	err  error
}

var (
	parseMu    sync.Mutex
	parseCache = map[string]cached{}
)

// parseFile parses path under its own name (so errors say file:line:col),
// caching the tree by modification time and size: resolving many services
// reads the same profiles and configs again and again.
func parseFile(path string) (*conformed, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	parseMu.Lock()
	c, ok := parseCache[path]
	parseMu.Unlock()
	if ok && c.mod.Equal(fi.ModTime()) && c.size == fi.Size() {
		return c.file, c.err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, perr := conform(path, data)
	parseMu.Lock()
	parseCache[path] = cached{mod: fi.ModTime(), size: fi.Size(), file: f, err: perr}
	parseMu.Unlock()
	return f, perr
}

// parsers are reused: a Parser is a few kilobytes of buffers, and a
// command resolving a thousand services parses a thousand files.
var parsers = sync.Pool{New: func() any { return syntax.NewParser() }}

// parseBytes parses a script as dash would read it, refusing what
// servicectl refuses (NUL bytes, CR LF line ends). The text it returns
// is what was parsed: data, or data with the delimiter lines of
// here-documents the end of the script closes added after its last line
// (positions in the tree refer to that text).
func parseBytes(name string, data []byte) (*syntax.File, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line := 1 + bytes.Count(data[:i], []byte{'\n'})
		return nil, data, &ScriptError{File: name, Line: line, Msg: "binary data where a sh script is expected"}
	}
	if i := bytes.Index(data, []byte("\r\n")); i >= 0 {
		// dash keeps the CR in every value of such a line ("8080\r"),
		// which then fails far from here; servicectl says so at once.
		line := 1 + bytes.Count(data[:i], []byte{'\n'})
		return nil, data, &ScriptError{File: name, Line: line, Msg: "line ends in CR LF (saved by a Windows editor?): sh would keep the CR in the values; convert the file (dos2unix, or sed -i 's/\\r$//')", Err: ExitError(2)}
	}
	pr := parsers.Get().(*syntax.Parser)
	f, err := pr.Parse(bytes.NewReader(data), name)
	orig, last := data, ""
	for tries := 0; err != nil && tries < 16; tries++ {
		// dash ends a here-document at the end of the script when its
		// delimiter line never comes; upstream's (*Parser).Parse refuses
		// it ("unclosed here-document"). The delimiter is added where the
		// script ends, after every line of it, so the body and the line
		// numbers are dash's (TestUpstreamStillNeedsHookFixes).
		closed, what, ok := closeHeredoc(data, err)
		if !ok || what == last {
			// Upstream does not find some delimiters even on a line of
			// their own (`<<'$'0`, README's known differences).
			data = orig
			break
		}
		data, last = closed, what
		f, err = pr.Parse(bytes.NewReader(data), name)
	}
	parsers.Put(pr)
	if err != nil {
		var pe syntax.ParseError
		if errors.As(err, &pe) {
			return nil, data, &ScriptError{File: name, Line: int(pe.Pos.Line()), Msg: "syntax error: " + pe.Text, Err: err}
		}
		return nil, data, &ScriptError{File: name, Msg: err.Error(), Err: err}
	}
	return f, data, nil
}

// Cache holds parsed scripts for the life of one command: within it, a
// file is read and parsed once however many services source it, with no
// stat to revalidate. A nil *Cache falls back to the process-wide cache
// that checks modification times.
type Cache struct {
	// ReadFile reads a script; nil: os.ReadFile. servicectl gives its
	// leaner reader (open, read, close: a thousand configs a command).
	ReadFile func(path string) ([]byte, error)

	mu       sync.Mutex
	files    map[string]cached
	dirs     map[string]bool           // working directories already checked
	sessions map[sessionKey]*sync.Pool // idle config sessions, see SourceOpts
}

// sessionKey is what a Runner fixes at its first Reset and keeps through
// later ones: config sessions that agree on it can share one. Only the
// process's stderr (or none) is pooled, so the key stays comparable.
type sessionKey struct {
	dir      string
	toStderr bool
}

// poolKey says whether a session for opts can be a pooled one: a config
// (no stdout, no arguments) under a Cache, writing errors to os.Stderr or
// nowhere.
func poolKey(opts Options) (sessionKey, bool) {
	if opts.Cache == nil || opts.Stdout != nil || len(opts.Args) > 0 {
		return sessionKey{}, false
	}
	if opts.Stderr != nil && opts.Stderr != io.Writer(os.Stderr) {
		return sessionKey{}, false
	}
	return sessionKey{opts.Dir, opts.Stderr != nil}, true
}

func (c *Cache) pool(k sessionKey) *sync.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[sessionKey]*sync.Pool{}
	}
	p := c.sessions[k]
	if p == nil {
		p = &sync.Pool{}
		c.sessions[k] = p
	}
	return p
}

// dirOption is interp.Dir without its stat when this Cache has already
// checked dir: a thousand services resolved from the playpen root need
// one check, not a thousand.
func (c *Cache) dirOption(dir string) interp.RunnerOption {
	if c == nil || !filepath.IsAbs(dir) {
		return interp.Dir(dir)
	}
	c.mu.Lock()
	ok := c.dirs[dir]
	c.mu.Unlock()
	if ok {
		return func(r *interp.Runner) error { r.Dir = dir; return nil }
	}
	return func(r *interp.Runner) error {
		if err := interp.Dir(dir)(r); err != nil {
			return err
		}
		c.mu.Lock()
		if c.dirs == nil {
			c.dirs = map[string]bool{}
		}
		c.dirs[dir] = true
		c.mu.Unlock()
		return nil
	}
}

func (c *Cache) parse(path string) (*conformed, error) {
	if c == nil {
		return parseFile(path)
	}
	c.mu.Lock()
	e, ok := c.files[path]
	c.mu.Unlock()
	if ok {
		return e.file, e.err
	}
	read := os.ReadFile
	if c.ReadFile != nil {
		read = c.ReadFile
	}
	data, err := read(path)
	if err != nil {
		return nil, err
	}
	f, perr := conform(path, data)
	c.mu.Lock()
	if c.files == nil {
		c.files = map[string]cached{}
	}
	c.files[path] = cached{file: f, err: perr}
	c.mu.Unlock()
	return f, perr
}

// closeHeredoc is data with the delimiter line of the here-document
// upstream's parser found unclosed added after its last line; what names
// that here-document (delimiter and place), so that a second report of
// the same one ends the attempts. Not ok: err is about something else, or
// the script ends in a CR (the added line would end it in CR LF).
func closeHeredoc(data []byte, err error) (closed []byte, what string, ok bool) {
	var pe syntax.ParseError
	if !errors.As(err, &pe) || bytes.HasSuffix(data, []byte{'\r'}) {
		return nil, "", false
	}
	delim, found := strings.CutPrefix(pe.Text, "unclosed here-document `")
	delim, found2 := strings.CutSuffix(delim, "`")
	if !found || !found2 || delim == "" || strings.ContainsAny(delim, "\n`") {
		return nil, "", false
	}
	closed = data[:len(data):len(data)]
	if !evenBackslashes(closed) && !quotedHeredoc(closed, int(pe.Pos.Offset())) {
		// A backslash that ends an unquoted body is a literal one to
		// dash, not the continuation of the line added after it; in a
		// quoted body every backslash is literal already.
		closed = append(closed, '\\')
	}
	if len(closed) > 0 && closed[len(closed)-1] != '\n' {
		closed = append(closed, '\n')
	}
	return append(closed, delim+"\n"...), delim + pe.Pos.String(), true
}

// quotedHeredoc says whether the here-document operator at off has a
// quoted delimiter word (any quote or backslash in it): its body is then
// taken literally.
func quotedHeredoc(src []byte, off int) bool {
	if off < 0 || off >= len(src) || !bytes.HasPrefix(src[off:], []byte("<<")) {
		return false
	}
	w := bytes.TrimLeft(bytes.TrimPrefix(src[off+2:], []byte("-")), " \t")
	if end := bytes.IndexAny(w, " \t\n;&|<>()"); end >= 0 {
		w = w[:end]
	}
	return bytes.ContainsAny(w, `'"\`)
}
