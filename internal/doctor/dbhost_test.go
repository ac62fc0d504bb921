package doctor

import "testing"

func TestParseBytes(t *testing.T) {
	tests := map[string]int64{
		"16G": 16 << 30, "16GiB": 16 << 30, "16gb": 16 << 30, "512M": 512 << 20, "1.5G": 3 << 29,
		"17179869184": 16 << 30, "64k": 64 << 10, "1T": 1 << 40,
	}
	for in, want := range tests {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "-1G", "lots", "0"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
}

func TestConfigSizesRoundDownToWholeUnits(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{12 << 30, "12G"}, {12<<30 + 1<<20, "12289M"}, {768 << 20, "768M"}, {768<<20 + 5, "768M"},
	}
	for _, tt := range tests {
		if got := cnfSize(tt.n, "G", "M"); got != tt.want {
			t.Errorf("cnfSize(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
	if got := roundPool(300 << 20); got != 256<<20 {
		t.Errorf("roundPool(300M) = %d", got)
	}
	if got := roundPool(1 << 20); got != poolChunk {
		t.Errorf("roundPool(1M) = %d, want one chunk", got)
	}
}

func TestServersOnThisHost(t *testing.T) {
	tests := []struct {
		network, addr string
		want          bool
	}{
		{"unix", "/run/mysqld/mysqld.sock", true},
		{"tcp", "127.0.0.1:3306", true},
		{"tcp", "[::1]:3306", true},
		{"tcp", "localhost:3306", true},
		{"tcp", "10.0.0.5:3306", false},
		{"tcp", "db.internal:3306", false},
	}
	for _, tt := range tests {
		if got := isLocalAddr(tt.network, tt.addr); got != tt.want {
			t.Errorf("isLocalAddr(%s, %s) = %v", tt.network, tt.addr, got)
		}
	}
}
