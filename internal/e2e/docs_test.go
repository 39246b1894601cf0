//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's browser, which `make e2e` installs with
// scripts/chromium.sh; MGV_CHROMIUM overrides the path.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MGV_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run scripts/chromium.sh (make e2e does)")
	return ""
}

// TestDocsSwaggerUIOnMariaDB opens the API reference at /docs of the real
// binary in headless Chromium: every documented operation is listed, and
// "Try it out" on GET /api/v1/me with the seeded admin's token answers 200
// in the page. The screenshot goes to docs/api-docs.png when
// MGV_UPDATE_SCREENSHOT=1, else to a temporary directory.
func TestDocsSwaggerUIOnMariaDB(t *testing.T) {
	browser := chromium(t)
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	token := f.Token(t, f.Admin)

	// The operations the page must list: all of the served document's.
	res, err := http.Get(s.URL("/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	err = json.NewDecoder(res.Body).Decode(&spec)
	closeBody(t, res)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, item := range spec.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				want = append(want, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(want)

	// Not t.TempDir: Chromium's helper processes may still write to the
	// profile for a moment after the browser exits, and TempDir fails the
	// test when its removal meets a file created meanwhile.
	profile, err := os.MkdirTemp("", "mgv-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeEventually(t, profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 1900),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithLogf(t.Logf))
	defer cancelTab()

	const me = "#operations-org-getMe"
	var listed []string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL("/docs")),
		chromedp.WaitVisible(me, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll(".opblock")).map(op =>
			op.querySelector(".opblock-summary-method").textContent.trim() + " " +
			op.querySelector(".opblock-summary-path").getAttribute("data-path"))`, &listed),
	); err != nil {
		t.Fatalf("loading /docs: %v\n%s", err, s.Stderr)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("/docs lists %d operations, the document has %d:\nlisted %v\nwant   %v", len(listed), len(want), listed, want)
	}
	for _, op := range []string{"GET /api/v1/me", "GET /api/v1/conversations", "POST /api/v1/search", "POST /api/v1/auth/login"} {
		if !slices.Contains(listed, op) {
			t.Errorf("/docs does not list %s", op)
		}
	}

	// Authorize as the seeded admin, then try GET /api/v1/me in the page.
	var tryOut, status, curl string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`window.ui.preauthorizeApiKey("bearerAuth", `+jsString(token)+`), true`, nil),
		chromedp.Click(me+" .opblock-summary-control", chromedp.ByQuery),
		chromedp.WaitVisible(me+" .try-out__btn", chromedp.ByQuery),
		chromedp.Text(me+" .try-out__btn", &tryOut, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("expanding GET /api/v1/me: %v", err)
	}
	// tryItOutEnabled opens the form at once (the button then reads
	// "Cancel"); otherwise press "Try it out".
	if strings.TrimSpace(tryOut) == "Try it out" {
		if err := chromedp.Run(ctx, chromedp.Click(me+" .try-out__btn", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Run(ctx,
		chromedp.Click(me+" button.execute", chromedp.ByQuery),
		chromedp.WaitVisible(me+" .live-responses-table tr.response .response-col_status", chromedp.ByQuery),
		chromedp.Text(me+" .live-responses-table tr.response .response-col_status", &status, chromedp.ByQuery),
		chromedp.Text(me+" .curl", &curl, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("executing GET /api/v1/me: %v", err)
	}
	if strings.TrimSpace(status) != "200" {
		t.Errorf("Try it out on GET /api/v1/me shows %q, want 200", status)
	}
	if !strings.Contains(curl, "Authorization: Bearer "+token) {
		t.Errorf("the request was not sent with the admin's token:\n%s", curl)
	}

	// The first screen (the whole page is several screens tall).
	var png []byte
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.scrollTo(0, 0)`, nil), chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "api-docs.png")
	if os.Getenv("MGV_UPDATE_SCREENSHOT") == "1" {
		out = filepath.Join(root, "docs", "api-docs.png")
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// removeEventually removes dir, retrying while processes that are exiting
// still write to it; a directory it cannot remove is logged, not a failure.
func removeEventually(t *testing.T, dir string) {
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
	}
	t.Logf("leaving %s behind: %v", dir, err)
}
