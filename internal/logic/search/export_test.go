package search

// SetMaxTrackerConversations lowers the tracker filter's bound for a test,
// and returns what puts it back.
func SetMaxTrackerConversations(n int) (restore func()) {
	old := maxTrackerConversations
	maxTrackerConversations = n
	return func() { maxTrackerConversations = old }
}
