package scenarios

import (
	"strings"
	"testing"
)

// TestScriptEntryFollowsModeSwitch checks that a script's entry command is
// checked against the paging mode the vCPU will be in when it runs, after
// the script's own register writes, not the mode the setup left.
func TestScriptEntryFollowsModeSwitch(t *testing.T) {
	head := "memslot 0 gpa=0 size=64M hpa=256M\npaging pae\nmap 0x1000 0x200000\nscript\n" +
		"set cr0-=pg\nset cr4-=pae\nset cr0+=pg\n"
	// In 32-bit paging there is no level 3.
	_, err := Load("t.mmu", []byte(head+"entry 0x1000 level=3 value=0\n"))
	if err == nil || !strings.Contains(err.Error(), "t.mmu:8:") || !strings.Contains(err.Error(), "levels 1 to 2") {
		t.Fatalf("level 3 after switching to 32-bit paging: got %v", err)
	}
	// A 4-byte entry cannot hold bits above 31.
	_, err = Load("t.mmu", []byte(head+"entry 0x1000 level=1 value=0x100000000\n"))
	if err == nil || !strings.Contains(err.Error(), "32-bit entry") {
		t.Fatalf("wide value after switching to 32-bit paging: got %v", err)
	}
	// Back in PAE, level 3 (a PDPTE) is fine again.
	src := head + "set cr0-=pg\nset cr4+=pae\nset cr0+=pg\nentry 0x1000 level=3 value=0x101001\n"
	if _, err := Load("t.mmu", []byte(src)); err != nil {
		t.Fatalf("level 3 after switching back to PAE: %v", err)
	}
}
