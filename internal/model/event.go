package model

import "time"

// Event is one entry of a tenant's event log: ids increase by one per
// tenant in commit order. Data is a JSON object.
type Event struct {
	TenantID   int64 `gorm:"primaryKey;autoIncrement:false"`
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	Type       string
	OccurredAt time.Time
	Data       string
}

// TableName of Event.
func (Event) TableName() string { return "events" }
