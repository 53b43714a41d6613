package table

import (
	"bytes"
	"testing"
)

func TestWrite(t *testing.T) {
	rows := [][]string{{"op", "runc", "crun"}, {"run", "28.9 / 30.1", "16.2 / 17.0"}, {"state", "4.0 / 4.4", "—"}}
	tests := []struct {
		left int
		want string
	}{
		{1, "" +
			"op            runc         crun\n" +
			"-----  -----------  -----------\n" +
			"run    28.9 / 30.1  16.2 / 17.0\n" +
			"state    4.0 / 4.4            —\n"},
		{2, "" +
			"op     runc                crun\n" +
			"-----  -----------  -----------\n" +
			"run    28.9 / 30.1  16.2 / 17.0\n" +
			"state  4.0 / 4.4              —\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		Write(&b, rows, tc.left)
		if b.String() != tc.want {
			t.Errorf("left=%d:\n%s\nwant:\n%s", tc.left, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	Write(&b, nil, 1)
	if b.Len() != 0 {
		t.Errorf("no rows printed %q", b.String())
	}
}
