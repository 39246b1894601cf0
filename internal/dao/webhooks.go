package dao

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// Webhooks stores subscriptions and their delivery log (webhook.Store).
// Leases are taken by an update guarded on the lease's expiry, so of two
// instances claiming a subscription at once exactly one gets it; progress
// is written only while the writer still holds the lease.
type Webhooks struct{ db *gorm.DB }

// NewWebhooks works on db.
func NewWebhooks(db *gorm.DB) *Webhooks { return &Webhooks{db: db} }

var (
	errSubscriptionNotFound = errs.NotFound(errs.ReasonSubscriptionNotFound, "subscription not found")
	errDeliveryNotFound     = errs.NotFound(errs.ReasonDeliveryNotFound, "delivery not found")
)

// Create inserts s, due now, unless its app already has maxPerApp
// subscriptions (SUBSCRIPTION_QUOTA_EXCEEDED). The app's row is locked
// while the app's subscriptions are counted and s inserted, so creates
// racing each other never take the app past the cap.
func (w *Webhooks) Create(ctx context.Context, s *model.WebhookSubscription, maxPerApp int) error {
	now := dbNow()
	s.CreatedAt, s.UpdatedAt, s.NextAttemptAt, s.LeaseUntil, s.FailingSince = now, now, now, now, now
	err := w.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockRow(tx, &model.App{}, "apps", s.AppID, errAppNotFound); err != nil {
			return err
		}
		q := lockingRead(tx.Model(&model.WebhookSubscription{}).Where("tenant_id = ? AND app_id = ?", s.TenantID, s.AppID))
		var n int64
		if err := q.Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(maxPerApp) {
			return errs.Of(errs.ReasonSubscriptionQuotaExceeded,
				"the app has %d webhook subscriptions, the most it may have (webhooks.max_subscriptions_per_app = %d); delete one before creating another",
				n, maxPerApp).With("max_subscriptions_per_app", strconv.Itoa(maxPerApp))
		}
		return tx.Create(s).Error
	})
	return dbError(err, nil)
}

// lockRow locks the row id of table (m's) until tx ends, so transactions
// counting what hangs off it (an app's subscriptions, a subscription's
// pending redeliveries) before adding one take turns; it answers gone
// when the row does not exist (deleted meanwhile), so nothing is added
// under it.
func lockRow(tx *gorm.DB, m any, table string, id int64, gone error) error {
	if tx.Name() == "mysql" {
		var ids []int64
		if err := tx.Model(m).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", id).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return gone
		}
		return nil
	}
	res := tx.Exec("UPDATE "+table+" SET id = id WHERE id = ?", id)
	if res.Error == nil && res.RowsAffected == 0 {
		return gone
	}
	return res.Error
}

// lockingRead makes q a locking read on MySQL, which reads the latest
// committed rows rather than the transaction's older snapshot (SQLite's
// writer lock already serialises).
func lockingRead(q *gorm.DB) *gorm.DB {
	if q.Name() == "mysql" {
		return q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	return q
}

func (w *Webhooks) scoped(ctx context.Context, tenantID, appID int64) *gorm.DB {
	q := w.db.WithContext(ctx).Where("tenant_id = ?", tenantID)
	if appID != 0 {
		q = q.Where("app_id = ?", appID)
	}
	return q
}

// Get reads a subscription of the tenant (of the app unless appID is 0).
func (w *Webhooks) Get(ctx context.Context, tenantID, appID, id int64) (*model.WebhookSubscription, error) {
	var s model.WebhookSubscription
	err := w.scoped(ctx, tenantID, appID).Where("id = ?", id).Take(&s).Error
	s.DisabledReason = cutReason(s.DisabledReason)
	return &s, dbError(err, errSubscriptionNotFound)
}

// List pages subscriptions by id, up to limit with ids above afterID, and
// counts every subscription of the same tenant (and app unless appID is
// 0), the total of the pages. The subscriptions are few (at most
// webhooks.max_subscriptions_per_app an app), so the count is cheap; the
// delivery log is another matter (Deliveries).
func (w *Webhooks) List(ctx context.Context, tenantID, appID, afterID int64, limit int) ([]model.WebhookSubscription, int64, error) {
	var total int64
	if err := w.scoped(ctx, tenantID, appID).Model(&model.WebhookSubscription{}).Count(&total).Error; err != nil {
		return nil, 0, dbError(err, nil)
	}
	var out []model.WebhookSubscription
	err := w.scoped(ctx, tenantID, appID).Where("id > ?", afterID).Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, 0, dbError(err, nil)
	}
	for i := range out {
		out[i].DisabledReason = cutReason(out[i].DisabledReason)
	}
	return out, total, nil
}

// Delete removes a subscription, then its delivery log in bounded batches.
func (w *Webhooks) Delete(ctx context.Context, tenantID, appID, id int64) error {
	res := w.scoped(ctx, tenantID, appID).Where("id = ?", id).Delete(&model.WebhookSubscription{})
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		return errSubscriptionNotFound
	}
	return deleteDeliveries(ctx, w.db, []int64{id})
}

// deleteDeliveries deletes the delivery logs of deleted subscriptions, a
// thousand rows at a time. A stop part-way leaves rows of no subscription,
// which nothing reads and the delivery log's trim removes in time.
func deleteDeliveries(ctx context.Context, db *gorm.DB, subscriptionIDs []int64) error {
	for len(subscriptionIDs) > 0 {
		var ids []int64
		if err := db.WithContext(ctx).Model(&model.WebhookDelivery{}).Where("subscription_id IN ?", subscriptionIDs).Limit(1000).Pluck("id", &ids).Error; err != nil {
			return dbError(err, nil)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := db.WithContext(ctx).Exec("DELETE FROM webhook_deliveries WHERE id IN ?", ids).Error; err != nil {
			return dbError(err, nil)
		}
	}
	return nil
}

// SetStatus enables (clearing the failure state, due now) or disables a
// subscription.
func (w *Webhooks) SetStatus(ctx context.Context, tenantID, id int64, status, reason string) error {
	now := dbNow()
	set := map[string]any{"status": status, "disabled_reason": reason, "updated_at": now}
	if status == model.WebhookActive {
		set["attempts"], set["next_attempt_at"] = 0, now
	}
	res := w.db.WithContext(ctx).Model(&model.WebhookSubscription{}).Where("tenant_id = ? AND id = ?", tenantID, id).Updates(set)
	if res.Error == nil && res.RowsAffected == 0 {
		return errSubscriptionNotFound
	}
	return dbError(res.Error, nil)
}

// SetSecret writes s's signing secret and previous secret (with its
// grace) and nothing else, only while the subscription still has the
// secret it was read with (before): a rotation stored meanwhile is not
// undone by one that would keep the secret it replaced, and the answer is
// CONFLICT.
func (w *Webhooks) SetSecret(ctx context.Context, before string, s *model.WebhookSubscription) error {
	s.UpdatedAt = dbNow()
	var until any
	if s.OldSecretUntil != nil {
		until = s.OldSecretUntil.UTC()
	}
	res := w.db.WithContext(ctx).Exec(`UPDATE webhook_subscriptions SET secret_sealed = ?, old_secret_sealed = ?, old_secret_until = ?, updated_at = ?
WHERE tenant_id = ? AND id = ? AND secret_sealed = ?`, s.SecretSealed, s.OldSecretSealed, until, s.UpdatedAt, s.TenantID, s.ID, before)
	if res.Error != nil {
		return dbError(res.Error, nil)
	}
	if res.RowsAffected == 0 {
		if _, err := w.Get(ctx, s.TenantID, 0, s.ID); err != nil {
			return err
		}
		return errs.Conflict("the secret of subscription %d was rotated by another request meanwhile; rotate it again if still needed", s.ID)
	}
	return nil
}

// Deliveries pages a subscription's deliveries newest first. It counts
// nothing: the log grows with the traffic, and a total would read all of
// it (of the subscription, in the status) for every page.
func (w *Webhooks) Deliveries(ctx context.Context, subscriptionID int64, status string, beforeID int64, limit int) ([]model.WebhookDelivery, error) {
	q := w.db.WithContext(ctx).Where("subscription_id = ?", subscriptionID)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	if beforeID > 0 {
		q = q.Where("id < ?", beforeID)
	}
	var out []model.WebhookDelivery
	err := q.Order("id DESC").Limit(limit).Find(&out).Error
	for i := range out {
		out[i].LastError = cutAnswer(out[i].LastError)
	}
	return out, dbError(err, nil)
}

// Delivery reads one delivery of a subscription.
func (w *Webhooks) Delivery(ctx context.Context, subscriptionID, id int64) (*model.WebhookDelivery, error) {
	var d model.WebhookDelivery
	err := w.db.WithContext(ctx).Where("subscription_id = ? AND id = ?", subscriptionID, id).Take(&d).Error
	d.LastError = cutAnswer(d.LastError)
	return &d, dbError(err, errDeliveryNotFound)
}

// AddRedelivery inserts a pending redelivery, due now, unless the
// subscription has maxPending redeliveries pending already
// (REDELIVERY_QUOTA_EXCEEDED), and brings the subscription's redeliver_at
// forward to now. The subscription's row is locked while they are counted
// and d inserted, so redeliveries asked for at once never take it past the
// cap.
func (w *Webhooks) AddRedelivery(ctx context.Context, d *model.WebhookDelivery, maxPending int) error {
	now := dbNow()
	d.CreatedAt, d.LastAttemptAt, d.NextAttemptAt = now, now, now
	d.Redelivery, d.Status = true, model.DeliveryPending
	err := w.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockRow(tx, &model.WebhookSubscription{}, "webhook_subscriptions", d.SubscriptionID, errSubscriptionNotFound); err != nil {
			return err
		}
		var pending []int64
		q := lockingRead(tx.Model(&model.WebhookDelivery{}).Where("subscription_id = ? AND status = ? AND redelivery = ?",
			d.SubscriptionID, model.DeliveryPending, true))
		if err := q.Limit(maxPending).Pluck("id", &pending).Error; err != nil {
			return err
		}
		if len(pending) >= maxPending {
			return errs.Of(errs.ReasonRedeliveryQuotaExceeded,
				"the subscription has %d redeliveries pending, the most it may have (webhooks.max_pending_redeliveries = %d); ask again once some are delivered or failed",
				len(pending), maxPending).With("max_pending_redeliveries", strconv.Itoa(maxPending))
		}
		if err := tx.Create(d).Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE webhook_subscriptions SET redeliver_at = ? WHERE id = ? AND (redeliver_at IS NULL OR redeliver_at > ?)",
			now, d.SubscriptionID, now).Error
	})
	return dbError(err, nil)
}

// earliestRedelivery is, in an update of webhook_subscriptions, the
// earliest next attempt of the row's pending redeliveries (NULL when
// none), read by idx_webhook_deliveries_pending among the subscription's
// own deliveries; its arguments are redeliveryArgs.
const earliestRedelivery = `(SELECT MIN(d.next_attempt_at) FROM webhook_deliveries AS d
WHERE d.subscription_id = webhook_subscriptions.id AND d.status = ? AND d.redelivery = ?)`

var redeliveryArgs = []any{model.DeliveryPending, true}

// FillRedeliverAt sets redeliver_at, where it is not set, from the
// subscriptions' pending redeliveries: those asked for before the column
// was added (migration 0032, which as every migration changes no row).
// The subscriptions are a short table and each is read by its own
// deliveries' key, so every start runs it whole.
func (w *Webhooks) FillRedeliverAt(ctx context.Context) error {
	err := w.db.WithContext(ctx).Exec("UPDATE webhook_subscriptions SET redeliver_at = "+earliestRedelivery+" WHERE redeliver_at IS NULL",
		redeliveryArgs...).Error
	return dbError(err, nil)
}

// Candidates lists subscriptions not leased now that are active and have
// work: due and behind their tenant's newest event (event_cursor <
// event_seqs.last_id, by idx_webhook_subscriptions_work), or with a
// redelivery due (redeliver_at, by idx_webhook_subscriptions_redo: a
// look reads no delivery, however many redeliveries are pending); of apps
// that are active and hold the read scope; of tenants other than
// skipTenants (those with no worker free for them). Those with work come
// longest-waiting first: a round that delivers moves next_attempt_at to
// its end (Record), so the subscriptions just served go to the back and
// no set of subscriptions, idle or busy, keeps the others out of the list;
// nor do those of a tenant the deliverer cannot serve now, which it leaves
// out by skipTenants, keeping their place.
func (w *Webhooks) Candidates(ctx context.Context, limit int, skipTenants []int64) ([]model.WebhookSubscription, map[int64]bool, error) {
	now := dbNow()
	db := w.db.WithContext(ctx)
	// Only an app that may still read events is delivered to: a disabled,
	// deleted or re-scoped app's subscriptions wait, keeping their place.
	servable := func(q *gorm.DB) *gorm.DB {
		q = q.Where("s.status = ? AND s.lease_until <= ? AND s.app_id IN (?)", model.WebhookActive, now, readingApps(db))
		if len(skipTenants) > 0 {
			q = q.Where("s.tenant_id NOT IN ?", skipTenants)
		}
		return q
	}
	// Redeliveries are picked among the subscriptions that can be served
	// now, longest-waiting first: those of disabled subscriptions (which
	// wait for an enable) never fill the list and keep the others out.
	var redo []model.WebhookSubscription
	err := servable(db.Table("webhook_subscriptions AS s").Select("s.*")).Where("s.redeliver_at <= ?", now).
		Order("s.redeliver_at, s.id").Limit(limit).Find(&redo).Error
	if err != nil {
		return nil, nil, dbError(err, nil)
	}
	var subs []model.WebhookSubscription
	err = servable(db.Table("webhook_subscriptions AS s").Select("s.*").
		Joins("JOIN event_seqs AS e ON e.tenant_id = s.tenant_id AND e.last_id > s.event_cursor")).
		Where("s.next_attempt_at <= ?", now).
		Order("s.next_attempt_at, s.id").Limit(limit).Find(&subs).Error
	if err != nil {
		return nil, nil, dbError(err, nil)
	}
	set := make(map[int64]bool, len(redo))
	for _, m := range redo {
		set[m.ID] = true
		if !slices.ContainsFunc(subs, func(s model.WebhookSubscription) bool { return s.ID == m.ID }) {
			subs = append(subs, m)
		}
	}
	return subs, set, nil
}

// readingApps selects the ids of the apps that may read events: active,
// with the read scope.
func readingApps(db *gorm.DB) *gorm.DB {
	return db.Model(&model.App{}).Select("id").
		Where("status <> ? AND (scopes = ? OR scopes LIKE ? OR scopes LIKE ? OR scopes LIKE ?)",
			model.AppDisabled, access.ScopeRead, access.ScopeRead+" %", "% "+access.ScopeRead, "% "+access.ScopeRead+" %")
}

// Claim leases a subscription whose lease has run out.
func (w *Webhooks) Claim(ctx context.Context, id int64, owner string, lease time.Duration) (*model.WebhookSubscription, error) {
	now := dbNow()
	res := w.db.WithContext(ctx).Exec("UPDATE webhook_subscriptions SET lease_until = ?, lease_owner = ? WHERE id = ? AND lease_until <= ?",
		now.Add(lease), owner, id, now)
	if res.Error != nil || res.RowsAffected == 0 {
		return nil, dbError(res.Error, nil)
	}
	var s model.WebhookSubscription
	if err := w.db.WithContext(ctx).Where("id = ? AND lease_owner = ?", id, owner).Take(&s).Error; err != nil {
		return nil, dbError(err, errSubscriptionNotFound)
	}
	return &s, nil
}

var errSubscriptionLeaseLost = errs.Conflict("the subscription's lease passed to another instance")

// Renew extends owner's lease of an active subscription of an app that
// may still read events: a deleted or disabled subscription, or one whose
// app was disabled, deleted or lost the read scope, is not renewed
// (Conflict), which stops its round within a second rather than after the
// slice (a backlog of thousands of events at a fast receiver). Nor is one
// whose signing secret is no longer secret (sealed), the one the round
// signs with: a rotation, often for a secret that leaked, takes effect at
// the next delivery but one, not at the next slice.
func (w *Webhooks) Renew(ctx context.Context, id int64, owner, secret string, lease time.Duration) error {
	now := dbNow()
	db := w.db.WithContext(ctx)
	res := db.Exec("UPDATE webhook_subscriptions SET lease_until = ? WHERE id = ? AND lease_owner = ? AND lease_until > ? AND status = ? AND secret_sealed = ? AND app_id IN (?)",
		now.Add(lease), id, owner, now, model.WebhookActive, secret, readingApps(db))
	if res.Error == nil && res.RowsAffected == 0 {
		return errSubscriptionLeaseLost
	}
	return dbError(res.Error, nil)
}

// Release ends owner's lease.
func (w *Webhooks) Release(ctx context.Context, id int64, owner string) error {
	now := dbNow()
	err := w.db.WithContext(ctx).Exec("UPDATE webhook_subscriptions SET lease_until = ?, lease_owner = '' WHERE id = ? AND lease_owner = ? AND lease_until > ?",
		now, id, owner, now).Error
	return dbError(err, nil)
}

// DueRedeliveries lists a subscription's pending redeliveries due now,
// longest due first, in the order of idx_webhook_deliveries_pending, so
// that a subscription holding thousands reads only the first limit.
func (w *Webhooks) DueRedeliveries(ctx context.Context, subscriptionID int64, limit int) ([]model.WebhookDelivery, error) {
	var out []model.WebhookDelivery
	err := w.db.WithContext(ctx).Where("subscription_id = ? AND status = ? AND redelivery = ? AND next_attempt_at <= ?",
		subscriptionID, model.DeliveryPending, true, dbNow()).Order("next_attempt_at, id").Limit(limit).Find(&out).Error
	return out, dbError(err, nil)
}

// Attempted lists the in-order deliveries of these events.
func (w *Webhooks) Attempted(ctx context.Context, subscriptionID int64, eventIDs []int64) ([]model.WebhookDelivery, error) {
	if len(eventIDs) == 0 {
		return nil, nil
	}
	var out []model.WebhookDelivery
	err := w.db.WithContext(ctx).Where("subscription_id = ? AND event_id IN ? AND redelivery = ?", subscriptionID, eventIDs, false).
		Find(&out).Error
	return out, dbError(err, nil)
}

// Record writes a round's progress and deliveries while owner holds the
// lease. The cursor is always written; the failure state (attempts,
// failing_since, next_attempt_at, status, disabled_reason) only where the
// row still holds the state of read, the subscription as the round read
// it. An admin's enable (which resets the attempts) or disable made
// meanwhile thus stays, and s takes the state as stored. A subscription
// this write disables has its pending deliveries failed. When the round
// wrote redeliveries, failed them, or read the subscription with
// redeliveries pending, redeliver_at is set again from those pending (a
// trim or an erasure may have removed some), and s takes it.
func (w *Webhooks) Record(ctx context.Context, owner string, read model.WebhookSubscription, s *model.WebhookSubscription, rows []model.WebhookDelivery) error {
	now := dbNow()
	err := w.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE webhook_subscriptions SET event_cursor = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND lease_until > ?",
			s.EventCursor, now, s.ID, owner, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errSubscriptionLeaseLost
		}
		res = tx.Exec(`UPDATE webhook_subscriptions SET attempts = ?, failing_since = ?, next_attempt_at = ?, status = ?, disabled_reason = ?
WHERE id = ? AND status = ? AND attempts = ? AND disabled_reason = ?`,
			s.Attempts, s.FailingSince.UTC(), s.NextAttemptAt.UTC(), s.Status, s.DisabledReason,
			s.ID, read.Status, read.Attempts, read.DisabledReason)
		if res.Error != nil {
			return res.Error
		}
		wrote := res.RowsAffected > 0
		if !wrote {
			var cur model.WebhookSubscription
			if err := tx.Where("id = ?", s.ID).Take(&cur).Error; err != nil {
				return err
			}
			s.Attempts, s.FailingSince, s.NextAttemptAt = cur.Attempts, cur.FailingSince, cur.NextAttemptAt
			s.Status, s.DisabledReason = cur.Status, cur.DisabledReason
		}
		var fresh []model.WebhookDelivery
		redone := read.RedeliverAt != nil
		for i := range rows {
			r := &rows[i]
			redone = redone || r.Redelivery
			r.LastAttemptAt = r.LastAttemptAt.UTC().Truncate(time.Millisecond)
			if r.NextAttemptAt.IsZero() {
				r.NextAttemptAt = now
			}
			r.NextAttemptAt = r.NextAttemptAt.UTC().Truncate(time.Millisecond)
			if r.ID == 0 {
				r.CreatedAt = now
				fresh = append(fresh, *r)
				continue
			}
			err := tx.Exec(`UPDATE webhook_deliveries SET status = ?, attempts = ?, response_code = ?, latency_ms = ?, last_error = ?,
last_attempt_at = ?, next_attempt_at = ? WHERE id = ?`, r.Status, r.Attempts, r.ResponseCode, r.LatencyMS, r.LastError,
				r.LastAttemptAt, r.NextAttemptAt, r.ID).Error
			if err != nil {
				return err
			}
		}
		if len(fresh) > 0 {
			if err := tx.Create(&fresh).Error; err != nil {
				return err
			}
		}
		if wrote && s.Status == model.WebhookDisabled {
			redone = true
			if err := tx.Exec("UPDATE webhook_deliveries SET status = ? WHERE subscription_id = ? AND status = ?",
				model.DeliveryFailed, s.ID, model.DeliveryPending).Error; err != nil {
				return err
			}
		}
		if !redone {
			return nil
		}
		if err := tx.Exec("UPDATE webhook_subscriptions SET redeliver_at = "+earliestRedelivery+" WHERE id = ?",
			append(slices.Clone(redeliveryArgs), s.ID)...).Error; err != nil {
			return err
		}
		var cur model.WebhookSubscription
		if err := tx.Select("redeliver_at").Where("id = ?", s.ID).Take(&cur).Error; err != nil {
			return err
		}
		s.RedeliverAt = cur.RedeliverAt
		return nil
	})
	return dbError(err, nil)
}

// Earlier versions kept the first 200 bytes of a receiver's answer after
// its status: "HTTP 422: unknown call 138…" in a delivery's last_error and
// "…; last error: HTTP 422: …" in the reason of a subscription the
// deliverer disabled. answerQuoted and reasonQuoting match those (the
// status has three digits); the text kept ends with the status.
const (
	answerQuoted  = "HTTP ___: %"
	reasonMark    = "; last error: HTTP "
	reasonQuoting = "%" + reasonMark + "___: %"
)

// ClearReasons cuts the receivers' answers that earlier versions kept in
// the reasons of the subscriptions the deliverer disabled (reasonQuoting)
// down to their status. The subscriptions are a short table, so every
// start runs it whole; the delivery log, which grows with the traffic, is
// not rewritten at a start (clearAnswers, cutAnswer).
func (w *Webhooks) ClearReasons(ctx context.Context) error {
	err := w.db.WithContext(ctx).Exec("UPDATE webhook_subscriptions SET disabled_reason = SUBSTR(disabled_reason, 1, INSTR(disabled_reason, ?) + ?) WHERE disabled_reason LIKE ?",
		reasonMark, len(reasonMark)+2, reasonQuoting).Error
	return dbError(err, nil)
}

// clearAnswers cuts the receivers' answers that earlier versions kept in
// the tenant's delivery log (answerQuoted) down to their status, among the
// deliveries with ids in (after, after+span]: a range of the primary key,
// so a statement reads at most span rows whatever the log holds (the log
// has no index on the tenant or the text). It returns the end of the range
// to go on from, 0 when the range reached the newest delivery, and how
// many it cut. The ids are read without a lock and each row only rewritten
// if it still quotes an answer, so two runs rewrite nothing twice.
func clearAnswers(db *gorm.DB, tenantID, after int64, span int) (int64, int, error) {
	var newest int64
	if err := db.Raw("SELECT COALESCE(MAX(id), 0) FROM webhook_deliveries").Scan(&newest).Error; err != nil {
		return 0, 0, dbError(err, nil)
	}
	if newest <= after {
		return 0, 0, nil
	}
	upTo := after + int64(span)
	var ids []int64
	err := db.Model(&model.WebhookDelivery{}).Where("id > ? AND id <= ? AND tenant_id = ? AND last_error LIKE ?", after, upTo, tenantID, answerQuoted).
		Order("id").Pluck("id", &ids).Error
	if err != nil {
		return 0, 0, dbError(err, nil)
	}
	if len(ids) > 0 {
		if err := db.Exec("UPDATE webhook_deliveries SET last_error = SUBSTR(last_error, 1, 8) WHERE id IN ? AND last_error LIKE ?", ids, answerQuoted).Error; err != nil {
			return 0, 0, dbError(err, nil)
		}
	}
	if upTo >= newest {
		upTo = 0
	}
	return upTo, len(ids), nil
}

// cutAnswer is a delivery's last_error as this version writes it: an
// earlier version's "HTTP 422: <the receiver's answer>" is read up to the
// status, so no app or admin reads what a receiver quoted (a phone number,
// an origin id) from a row written before the upgrade, which stays until
// the log is trimmed (webhooks.keep) or an erasure cuts it.
func cutAnswer(s string) string {
	if rest, ok := strings.CutPrefix(s, "HTTP "); ok {
		return "HTTP " + cutAfterStatus(rest)
	}
	return s
}

// cutReason is a disabling reason as this version writes it: an earlier
// version's "…; last error: HTTP 422: <the receiver's answer>" is read up
// to the status. Each start cuts the stored reasons (ClearReasons); this
// covers one an earlier process disables a subscription with meanwhile,
// in an upgrade's overlap or a fleet upgraded one instance at a time.
func cutReason(s string) string {
	i := strings.Index(s, reasonMark)
	if i < 0 {
		return s
	}
	at := i + len(reasonMark)
	return s[:at] + cutAfterStatus(s[at:])
}

// cutAfterStatus is s up to its three-digit status when an answer follows
// it ("422: unknown call …" reads "422"), else s.
func cutAfterStatus(s string) string {
	if len(s) > 5 && s[3:5] == ": " && isDigits(s[:3]) {
		return s[:3]
	}
	return s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Trim deletes up to limit deliveries created before before.
func (w *Webhooks) Trim(ctx context.Context, before time.Time, limit int) (int64, error) {
	var ids []int64
	err := w.db.WithContext(ctx).Model(&model.WebhookDelivery{}).Where("created_at < ?", before.UTC()).Order("created_at").Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, dbError(err, nil)
	}
	res := w.db.WithContext(ctx).Exec("DELETE FROM webhook_deliveries WHERE id IN ?", ids)
	return res.RowsAffected, dbError(res.Error, nil)
}
