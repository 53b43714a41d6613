package peakrss

import "testing"

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		wantErr  bool
	}{
		{"status", "Name:\tcrun\nVmPeak:\t   9000 kB\nVmHWM:\t    3312 kB\nVmRSS:\t    3000 kB\n", 3312, false},
		{"missing", "Name:\tzombie\nState:\tZ (zombie)\n", 0, true},
		{"garbage", "VmHWM:\tlots kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVmHWM([]byte(tt.in))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseVmHWM = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
