/** Who is calling: set once by the identify stage, read by everything after it. */
/** Per-key overrides of the tier's rates (enforced by the limits stage). */
export interface CallerLimits {
  rpm?: number;
  rpd?: number;
  tpm?: number;
  tpd?: number;
}

/** Per-key spend caps in integer micro-dollars, overriding the tier's (enforced by the limits stage). */
export interface CallerBudget {
  dailyMicros?: number;
  monthlyMicros?: number;
  totalMicros?: number;
}

export interface Caller {
  /** 'none' when auth is off. */
  team: string;
  user?: string;
  /** The virtual key's id (never its secret). */
  keyId?: string;
  /** Set when auth is on (the key's or token's tier, else `auth.default_tier`). */
  tier?: string;
  /** Public model names this caller may use; undefined: all. */
  allowedModels?: string[];
  limits?: CallerLimits;
  budget?: CallerBudget;
  /** Cache namespaces the key may choose with `x-switchyard-cache-namespace` (`*`: any). */
  cacheNamespaces?: string[];
  /** How the caller proved who it is. */
  via?: 'none' | 'key' | 'jwt' | 'admin_key';
  /** admin: the master key (every team); team_admin: a key that may manage its own team. */
  role?: 'admin' | 'team_admin' | 'user';
}
