package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium package, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// TestWebApp uses the web app as a person does on a phone: a real
// headless Chromium at 390x844 (mobile emulation) against a real hub
// and tst service. The phone pairs with the code `devices add` printed,
// calls tst.add through the form generated from the manifest, sees a type
// error at the field; keeps a note while another device saves it too (the
// change shown at once, then a conflict resolved); reads the status and
// the logs; and sees "not
// available" and the instance gone from the status screen once the only
// tst instance is killed with SIGKILL. With DPC_WRITE_DOCS=1 it writes a screenshot of
// each screen to docs/webapp/.
func TestWebApp(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no %s (Debian's chromium package; .ci/run installs it): %v", chromiumPath, err)
	}
	webPort := freePort(t)
	hub, url := waitHub(t, exec.Command(bins.hub, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", freePort(t)),
		"--http-port=0", "--metrics=", "--data", t.TempDir(), "--log-format", "json",
		"--sweep-interval", "200ms", "--expiry", "1s", fmt.Sprintf("--web=127.0.0.1:%d", webPort)))
	_ = hub
	tst := startService(t, url, "tst")
	eventually(t, 20*time.Second, func() bool { return funcs(t, url)["tst.add"] > 0 }, "tst.add in the catalog")

	r := cli(t, url, "--json", "devices", "add", "phone")
	if r.code != 0 {
		t.Fatalf("devices add phone: %d %s", r.code, r.stderr)
	}
	var add struct {
		Code string   `json:"code"`
		Web  []string `json:"web"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &add); err != nil || add.Code == "" || len(add.Web) == 0 {
		t.Fatalf("devices add --json: no code or web link: %v %s", err, r.stdout)
	}
	// The link the QR code carries: the web port, the code in its fragment.
	link := fmt.Sprintf("https://127.0.0.1:%d/#pair=%s", webPort, add.Code)
	if add.Web[0] != link {
		t.Fatalf("devices add's web link %q, want %q", add.Web[0], link)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // as root in CI containers
		chromedp.UserDataDir(t.TempDir()),
		// The phone's person accepts the hub's certificate (or installs
		// hub-ca.pem); the headless browser is told to.
		chromedp.Flag("ignore-certificate-errors", true),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	shots := os.Getenv("DPC_WRITE_DOCS") == "1"
	shot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "webapp", name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			var body string
			body, _ = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage:\n%s\nhub:\n%s", what, err, body, hub.Output())
		}
	}
	// until waits (bounded) for a JavaScript condition on the page.
	until := func(what, cond string) {
		t.Helper()
		do(what, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`)?.textContent ?? ""`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// clear empties a field, as a person selecting its text and deleting.
	clear := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`document.querySelector(` + jsString(sel) + `).value = ""`)
	}

	do("open the pairing link",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(link),
		chromedp.WaitVisible("#pair-btn"))
	if v, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("code").value`)); v != add.Code {
		t.Fatalf("the link's code was not filled in: %q", v)
	}
	shot("1-pair")
	do("pair", chromedp.Click("#pair-btn"))
	until("paired and the applications listed", `document.querySelector('[data-app="test"]')`)
	if s := text("#status"); !strings.Contains(s, "phone") || !strings.Contains(s, "connected") {
		t.Fatalf("status after pairing: %q", s)
	}
	shot("2-applications")

	do("open the application", chromedp.Click(`[data-app="test"]`))
	until("its functions", `document.querySelector('[data-fn="tst.add"]')`)
	shot("3-functions")
	do("open tst.add", chromedp.Click(`[data-fn="tst.add"]`))
	until("the form", `document.getElementById("arg-a") && document.getElementById("arg-b")`)
	if l := text(`label[for="arg-a"]`); !strings.Contains(l, "First number") || !strings.Contains(l, "int") {
		t.Fatalf("the field's label %q is not the manifest's description and type", l)
	}
	do("call add(2, 3)",
		chromedp.SendKeys("#arg-a", "2"),
		chromedp.SendKeys("#arg-b", "3"),
		chromedp.Click("#call"))
	until("the result", `document.querySelector("#result.ok")`)
	if got := text("#result .value"); got != "5" {
		t.Fatalf("add(2, 3) shows %q", got)
	}
	shot("4-result")

	do("type x in an int field", clear("#arg-a"), chromedp.SendKeys("#arg-a", "x"))
	until("the error at the field", `document.getElementById("err-a").textContent !== ""`)
	if e := text("#err-a"); !strings.Contains(e, "whole number") || !strings.Contains(e, `"x"`) {
		t.Fatalf("the field's error: %q", e)
	}
	shot("5-type-error")

	// Notes, with a second device (the owner, from this test) saving too.
	owner := connectOwner(t, url)
	ownerCall := func(fn string, args ...any) string {
		t.Helper()
		body, _ := json.Marshal(args)
		m, err := owner.Request("dpc.svc.hub."+fn, body, 10*time.Second)
		if err != nil || m.Header.Get("Nats-Service-Error") != "" {
			t.Fatalf("hub.%s as the owner: %v %s", fn, err, m.Header.Get("Nats-Service-Error"))
		}
		return string(m.Data)
	}
	do("make a note", chromedp.Click("#tab-notes"), chromedp.WaitVisible("#new-note"),
		chromedp.SendKeys("#new-note", "shopping"), chromedp.Click("form.inline button"))
	until("the new note", `document.getElementById("note-status")?.textContent.includes("new note")`)
	do("write and save it", chromedp.SendKeys("#note-text", "milk\n"), chromedp.Click("#save"))
	until("saved", `document.getElementById("note-status").textContent.includes("Saved: revision 1")`)
	ownerCall("save", "shopping", "milk\neggs\n", 1)
	until("the other device's save shown at once", `document.getElementById("note-text").value === "milk\neggs\n" && document.getElementById("note-status").textContent.includes("revision 2")`)
	shot("7-note-live")
	do("edit the first line", clear("#note-text"), chromedp.SendKeys("#note-text", "oat milk\neggs\n"))
	ownerCall("save", "shopping", "soy milk\neggs\n", 2)
	until("told of the other save", `document.getElementById("note-status").textContent.includes("Changed on another device (revision 3)")`)
	do("save: a conflict", chromedp.Click("#save"))
	until("the conflict to resolve", `document.getElementById("note-status").className === "conflict" && document.getElementById("note-text").value.includes("<<<<<<<")`)
	shot("8-note-conflict")
	do("resolve and save", clear("#note-text"), chromedp.SendKeys("#note-text", "oat milk\nsoy milk\neggs\n"), chromedp.Click("#save"))
	until("saved on the latest", `document.getElementById("note-status").textContent.includes("Saved: revision 4")`)
	if got := ownerCall("get", "shopping", 0); got != `"oat milk\nsoy milk\neggs\n"` {
		t.Fatalf("the note after resolving: %s", got)
	}
	shot("9-note-resolved")
	do("open the status", chromedp.Click("#tab-status"))
	until("tst's instance in the status", `document.querySelector('[data-service="tst"] [data-instance]')`)
	shot("10-status")
	do("open the logs", chromedp.Click("#tab-logs"))
	until("tst's records in the logs", `document.querySelector('#logs li[data-name="tst"]')`)
	shot("11-logs")
	do("back to tst.add", chromedp.Navigate(strings.Replace(link, "#pair="+add.Code, "#fn/test/tst.add", 1)))
	until("the form again", `document.getElementById("arg-a") && document.getElementById("arg-b")`)
	do("fill it", chromedp.SendKeys("#arg-a", "2"), chromedp.SendKeys("#arg-b", "3"))

	tst.Kill()
	do("call again with no instance", chromedp.Click("#call"))
	until(`"not available"`, `document.querySelector("#result.unavailable")`)
	if s := text("#result"); !strings.Contains(s, "Not available") {
		t.Fatalf("with tst killed the page shows %q", s)
	}
	shot("6-not-available")
	do("open the status again", chromedp.Click("#tab-status"))
	until("the status without tst's instance", `document.querySelector('[data-service="hub"]') && !document.querySelector('[data-service="tst"] [data-instance]')`)
	shot("12-status-after-kill")
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
