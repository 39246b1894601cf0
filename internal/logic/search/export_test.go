package search

// SetMaxTrackerConversations lowers the tracker filter's bound of s for a
// test.
func (s *Service) SetMaxTrackerConversations(n int) { s.maxTracker = n }
