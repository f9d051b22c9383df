package datapath

// began reports whether the scope holds an open transaction.
func (s *Scope) began() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}
