package demo

import (
	"strings"
	"testing"
)

func TestIntroNamesTheRealAddressesInEveryCommand(t *testing.T) {
	a := Addrs{
		Listen:   "127.0.0.1:18080",
		Admin:    "127.0.0.1:19901",
		Payments: [2]string{"127.0.0.1:19101", "127.0.0.1:19102"},
		FX:       "127.0.0.1:19103",
	}
	cfg, err := Config(a)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteIntro(&b, cfg, a.Listen, a.Admin); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"http://127.0.0.1:18080",
		"http://127.0.0.1:19901",
		"127.0.0.1:19101 127.0.0.1:19102",
		"for i in 1 2 3 4; do curl -s 127.0.0.1:18080/api/payments/charge; done",
		"curl -s 127.0.0.1:18080/api/fx/rates\n",
		"curl -X POST 127.0.0.1:19103/_demo/stall\n",
		"curl -X POST 127.0.0.1:19103/_demo/heal\n",
		"curl -X POST 127.0.0.1:19103/_demo/fail\n",
		"for i in $(seq 8); do curl -s -o /dev/null -w '%{http_code} %{time_total}s\\n' 127.0.0.1:18080/api/fx/rates; done",
		"504 after 1s (the response timeout), 3 times",
		"skjold status --admin 127.0.0.1:19901",
		"curl -s 127.0.0.1:19901/status",
		"come back within about 10s",
		"Ctrl-C stops the demo",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the intro lacks %q:\n%s", want, out)
		}
	}
	for _, stale := range []string{":8080", ":9901", ":9101", ":9102", ":9103"} {
		if strings.Contains(out, stale) {
			t.Errorf("the intro names the default port %s although the demo moved it:\n%s", stale, out)
		}
	}
}

func TestIntroOmitsAdminFlagForTheDefaultAddress(t *testing.T) {
	cfg, err := Config(Addrs{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteIntro(&b, cfg, DefaultListen, DefaultAdmin); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "  skjold status        (or:") {
		t.Errorf("the intro should suggest plain `skjold status`:\n%s", b.String())
	}
}

func TestIntroRefusesAConfigWithoutTheDemoUpstreams(t *testing.T) {
	cfg, err := Config(Addrs{})
	if err != nil {
		t.Fatal(err)
	}
	delete(cfg.Upstreams, FXName)
	var b strings.Builder
	if err := WriteIntro(&b, cfg, DefaultListen, DefaultAdmin); err == nil {
		t.Error("WriteIntro accepted a config without fx")
	}
	cfg, _ = Config(Addrs{})
	cfg.Routes = cfg.Routes[:1]
	if err := WriteIntro(&b, cfg, DefaultListen, DefaultAdmin); err == nil {
		t.Error("WriteIntro accepted a config without a route to fx")
	}
}
