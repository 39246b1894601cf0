//go:build e2e

package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// TestUpgradeAskedWhileThePreviousProcessDrains holds a process draining
// with a transcript upload that never ends, and upgrades its successor
// meanwhile (a second release, or a rollback, deployed at once): the
// successor starts the newer process once its parent has exited, rather
// than refusing. A signal repeated during an upgrade is that upgrade.
func TestUpgradeAskedWhileThePreviousProcessDrains(t *testing.T) {
	const drain = 3 * time.Second
	s := NewService(t, map[string]string{"MGV_PROCESS_DRAIN_TIMEOUT": drain.String()})
	f := NewFixture(t, s)
	s.Start()

	// An upload that sends its header and then nothing keeps the first
	// process draining until its deadline.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+f.AppToken(t))
	up, err := openv1.NewConversationServiceClient(s.GRPC()).PutTranscript(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{
		Header: &openv1.TranscriptHeader{ConversationId: 1}}}); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		// Waits for the answer without closing the upload.
		ended <- up.RecvMsg(new(openv1.PutTranscriptResponse))
	}()
	select {
	case err := <-ended:
		t.Fatalf("the upload ended before the upgrade: %v", err)
	case <-time.After(300 * time.Millisecond):
	}

	first := s.Signal(syscall.SIGUSR2)
	_ = syscall.Kill(first, syscall.SIGUSR2)
	second := waitNewPID(t, s, first, 10*time.Second)
	if !Alive(first) {
		t.Fatalf("process %d exited at once; the open upload should keep it draining", first)
	}
	if got := s.Signal(syscall.SIGUSR2); got != second {
		t.Fatalf("signalled %d, want %d", got, second)
	}
	third := waitNewPID(t, s, second, drain+10*time.Second)
	for _, pid := range []int{first, second} {
		if !WaitGone(pid, drain+10*time.Second) {
			t.Fatalf("process %d still running", pid)
		}
	}
	assertServing(t, s)
	select {
	case err := <-ended:
		if status.Code(err) != codes.Unavailable {
			t.Errorf("the upload cut by the drain deadline ended with %v, want UNAVAILABLE", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the upload did not end with the first process")
	}
	if strings.Contains(s.Stderr.String(), "upgrade failed") {
		t.Errorf("an upgrade failed:\n%s", s.Stderr)
	}
	t.Logf("%d → %d → %d", first, second, third)
}
