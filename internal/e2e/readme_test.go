//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeSection is the part of README.md whose commands are tested.
const readmeSection = "### Try it with the demo tenant"

// TestREADMEDemoCommands runs the curl commands of the README's demo
// section, as written there (only the port is the test binary's), against
// a binary seeded the way the README seeds it: every answer is a success
// whose data holds something, so an example that finds nothing fails here.
func TestREADMEDemoCommands(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's commands need %s: %v", tool, err)
		}
	}
	seedLine, commands := readmeDemo(t)
	pw := regexp.MustCompile(`\bseed\s+--password\s+(\S+)`).FindStringSubmatch(seedLine)
	if pw == nil {
		t.Fatalf("no seed --password in the README's seed command %q", seedLine)
	}

	s := NewService(t, nil)
	if out, err := s.Command("seed", "--password", pw[1]).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	s.Start()

	// Each command's output ends with a marker line, so the answers can be
	// told apart; an assignment (TOKEN=$(curl …)) prints nothing itself.
	const marker = "@@end-of-command@@"
	var script strings.Builder
	script.WriteString("set -eu -o pipefail\n")
	for _, c := range commands {
		script.WriteString(strings.ReplaceAll(c, "localhost:2023", s.HTTPAddr) + "\n")
		script.WriteString("printf '\\n" + marker + "\\n'\n")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "readme.sh")
	if err := os.WriteFile(path, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	// The search index catches up with the seed shortly after start: in
	// about 15 s on a quiet machine, over a minute on a loaded one.
	var failures []string
	deadline := time.Now().Add(150 * time.Second)
	for {
		cmd := exec.Command("bash", path)
		cmd.Dir = dir
		out, err := cmd.Output()
		failures = nil
		if err != nil {
			failures = append(failures, "the commands failed: "+err.Error()+"\n"+string(out))
		} else {
			answers := strings.Split(string(out), marker+"\n")
			for i, c := range commands {
				if i >= len(answers) {
					failures = append(failures, c+": no answer")
					continue
				}
				if problem := checkDemoAnswer(c, strings.TrimSpace(answers[i])); problem != "" {
					failures = append(failures, problem)
				}
			}
		}
		if len(failures) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("README.md %q:\n%s", readmeSection, strings.Join(failures, "\n\n"))
		}
		time.Sleep(time.Second)
	}
}

// checkDemoAnswer checks what one README command printed: nothing for an
// assignment, else the success envelope whose data has a non-empty list
// and no zero count (total, match_count). It returns the problem, or "".
func checkDemoAnswer(command, answer string) string {
	if isAssignment(command) {
		if answer != "" {
			return command + ": printed " + answer
		}
		return ""
	}
	var env struct {
		Code int                        `json:"code"`
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(answer), &env); err != nil || env.Code != 0 {
		return command + ": not a success: " + answer
	}
	nonEmpty := false
	for key, raw := range env.Data {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			nonEmpty = true
		}
		if (key == "total" || key == "match_count") && string(raw) == "0" {
			return command + ": " + key + " is 0: " + answer
		}
	}
	if !nonEmpty {
		return command + ": finds nothing: " + answer
	}
	return ""
}

// isAssignment tells a shell variable assignment (NAME=…).
func isAssignment(command string) bool {
	return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(command)
}

// readmeDemo reads the README's demo section: the seed command and the
// commands of the bash block with the curl calls, each continuation line
// joined to its command.
func readmeDemo(t *testing.T) (seed string, commands []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, readmeSection+"\n")
	if start < 0 {
		t.Fatalf("README.md has no section %q", readmeSection)
	}
	section := text[start+len(readmeSection):]
	if end := strings.Index(section, "\n### "); end >= 0 {
		section = section[:end]
	}
	for _, block := range regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(section, -1) {
		var cmds []string
		for _, line := range strings.Split(strings.ReplaceAll(block[1], "\\\n", " "), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				cmds = append(cmds, line)
			}
		}
		for _, c := range cmds {
			if strings.Contains(c, " seed ") && seed == "" {
				seed = c
			}
		}
		if commands == nil && len(cmds) > 0 && strings.Contains(block[1], "curl ") {
			commands = cmds
		}
	}
	if seed == "" || len(commands) < 2 {
		t.Fatalf("README.md %q: no seed command or no curl block", readmeSection)
	}
	return seed, commands
}
