// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/**
 * @title FlotillaEscrow
 * @notice Holds a payer's ERC-20 deposit per job until Flotilla's settlement key pays the providers
 * that ran the job, exactly once, and holds providers' bonds, which the settlement key can slash
 * once per job when a verifier catches the provider cheating. Payouts are pull payments: settling
 * and slashing only credit balances, and every account (provider, payer, verifier) withdraws its
 * own credit. See docs/contracts.md.
 *
 *            deposit (payer)           settle / settleBatch (SETTLER_ROLE, once)
 *   None ───────────────────▶ Open ─────────────────────────────────────────────▶ Settled
 *                            │  ▲  │   providers' shares + payer's remainder credited to `owed`
 *          top-up (same payer,│  │  │
 *          same token)        └──┘  │ reclaim (payer, only after the deadline)
 *                                   └─────────────────────────────────────────────▶ Reclaimed
 *                                       whole deposit transferred back to the payer
 *
 * Settled and Reclaimed are terminal: a job id is never reopened, so a settlement id derived from
 * the job uid can land at most once. No proxy, no upgrade path, no admin withdrawal.
 *
 * Bonds, per (provider, token):
 *
 *   postBond (anyone)        requestUnbond (provider)             withdrawBond (provider, after UNBOND_DELAY)
 *   ─────────────▶ bonded ───────────────────────────▶ unbonding ──────────────────────────────────▶ provider
 *                     │                                    │
 *                     └──────── slash (SETTLER_ROLE, once per job; bonded first, then unbonding) ──▶ owed:
 *                                                          half (rounded down) to the verifier, the rest to the job's payer
 *
 * Unbonding still counts as bond until it is withdrawn, so a provider cannot pull its bond out from
 * under a slash that is on its way.
 */
contract FlotillaEscrow is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Accounts allowed to settle jobs (the operator's settlement key). Granted and revoked
    /// by DEFAULT_ADMIN_ROLE, which is meant to be a cold key or a multisig.
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    /// @notice Unbonding delay: a provider cannot pull its bond out from under a pending slash. A
    /// verifier's challenge and the settlement key's slash must land within it.
    uint256 public constant UNBOND_DELAY = 7 days;

    enum JobStatus {
        None,
        Open,
        Settled,
        Reclaimed
    }

    /// @dev Two storage slots: (payer, deadline, status, closedAtBlock) and (token, deposit).
    struct Job {
        address payer;
        uint40 deadline; // unix seconds; the payer may reclaim strictly after it
        JobStatus status;
        uint48 closedAtBlock; // block in which the job was settled or reclaimed; 0 while open
        address token;
        uint96 deposit; // total deposited, kept after closing as a record
    }

    /// @dev Two storage slots: bonded, and (unbonding, unbondableAt).
    struct Bond {
        uint256 bonded; // slashable, not withdrawable
        uint192 unbonding; // still slashable; withdrawable from unbondableAt on
        uint64 unbondableAt; // unix seconds; 0 while nothing is unbonding
    }

    struct SettlementBatchEntry {
        bytes32 jobId;
        address[] providers;
        uint256[] amounts;
    }

    mapping(bytes32 jobId => Job) private _jobs;

    /// @notice Credit withdrawable by `account` in `token`: providers' settled shares and payers'
    /// settlement remainders.
    mapping(address account => mapping(address token => uint256 amount)) public owed;

    mapping(address provider => mapping(address token => Bond)) private _bonds;

    /// @dev Set by the first slash of a job, whatever it took: a job slashes its provider at most once.
    mapping(bytes32 jobId => bool) private _slashed;

    event Deposited(
        bytes32 indexed jobId,
        address indexed payer,
        address indexed token,
        uint256 amount,
        uint256 totalDeposit,
        uint256 deadline
    );
    event Settled(
        bytes32 indexed jobId, address indexed token, address[] providers, uint256[] amounts, uint256 refund
    );
    /// @notice The settlement remainder credited to the payer (withdraw it with `withdraw(token)`).
    event Refunded(bytes32 indexed jobId, address indexed payer, address indexed token, uint256 amount);
    event Reclaimed(bytes32 indexed jobId, address indexed payer, address indexed token, uint256 amount);
    event Withdrawn(address indexed account, address indexed token, uint256 amount);
    /// @notice A batch entry for a job that was already closed; the rest of the batch proceeds.
    event SettlementSkipped(bytes32 indexed jobId, JobStatus status);
    event BondPosted(
        address indexed provider, address indexed token, address indexed funder, uint256 amount, uint256 totalBonded
    );
    /// @notice `amount` moved from bonded to unbonding; the whole unbonding amount is withdrawable at `availableAt`.
    event UnbondRequested(address indexed provider, address indexed token, uint256 amount, uint256 availableAt);
    event BondWithdrawn(address indexed provider, address indexed token, uint256 amount);
    /// @notice `slashed` (≤ the amount asked) left the provider's bond: `toVerifier` and `toPayer` were
    /// credited to `owed` (withdraw them with `withdraw(token)`).
    event Slashed(
        bytes32 indexed jobId,
        address indexed provider,
        address indexed token,
        uint256 slashed,
        uint256 toPayer,
        uint256 toVerifier,
        address verifier
    );

    error ZeroAddress();
    error ZeroAmount();
    error DeadlineInPast(uint256 deadline);
    error UnknownJob(bytes32 jobId);
    error AlreadySettled(bytes32 jobId);
    error AlreadyReclaimed(bytes32 jobId);
    error NotPayer(bytes32 jobId, address caller);
    error TokenMismatch(bytes32 jobId, address jobToken);
    error UnsupportedToken(address token, uint256 expected, uint256 received);
    error LengthMismatch(bytes32 jobId, uint256 providers, uint256 amounts);
    error SettlementExceedsDeposit(bytes32 jobId, uint256 total, uint256 deposit);
    error DeadlineNotReached(bytes32 jobId, uint256 deadline);
    error NothingToWithdraw(address account, address token);
    error InsufficientBond(address provider, address token, uint256 bonded, uint256 requested);
    error UnbondNotReady(uint256 availableAt);
    error AlreadySlashed(bytes32 jobId);

    constructor(address admin, address settler) {
        if (admin == address(0) || settler == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SETTLER_ROLE, settler);
    }

    // ───────────────────────────── payer ─────────────────────────────

    /**
     * @notice Deposits `amount` of `token` for `jobId`. The first deposit opens the job and fixes its
     * payer and token; later deposits (top-ups) must come from the same payer in the same token.
     * The job's deadline becomes the later of the stored one and `deadline`, so a top-up can only
     * extend it. Tokens that deliver less than `amount` (fee on transfer) are rejected.
     */
    function deposit(bytes32 jobId, IERC20 token, uint256 amount, uint64 deadline) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (deadline <= block.timestamp) revert DeadlineInPast(deadline);
        Job storage job = _jobs[jobId];
        JobStatus status = job.status;
        if (status == JobStatus.None) {
            if (address(token) == address(0)) revert ZeroAddress();
            job.payer = msg.sender;
            job.token = address(token);
            job.status = JobStatus.Open;
        } else {
            if (status != JobStatus.Open) _revertNotOpen(jobId, status);
            if (job.payer != msg.sender) revert NotPayer(jobId, msg.sender);
            if (job.token != address(token)) revert TokenMismatch(jobId, job.token);
        }
        if (deadline > job.deadline) job.deadline = SafeCast.toUint40(deadline);
        uint96 total = SafeCast.toUint96(uint256(job.deposit) + amount);
        job.deposit = total;
        emit Deposited(jobId, msg.sender, address(token), amount, total, job.deadline);

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(address(token), amount, received);
    }

    /// @notice Returns the whole deposit of an unsettled job to its payer, strictly after the deadline.
    function reclaim(bytes32 jobId) external nonReentrant {
        Job storage job = _jobs[jobId];
        JobStatus status = job.status;
        if (status != JobStatus.Open) _revertNotOpen(jobId, status);
        if (msg.sender != job.payer) revert NotPayer(jobId, msg.sender);
        if (block.timestamp <= job.deadline) revert DeadlineNotReached(jobId, job.deadline);
        job.status = JobStatus.Reclaimed;
        job.closedAtBlock = uint48(block.number);
        address token = job.token;
        uint256 amount = job.deposit;
        emit Reclaimed(jobId, msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ─────────────────────────── settlement ──────────────────────────

    /**
     * @notice Settles `jobId` once: credits `amounts[i]` to `providers[i]` and the rest of the deposit
     * to the payer. Reverts with AlreadySettled / AlreadyReclaimed / UnknownJob when the job is not
     * open. May run after the deadline as long as the payer has not reclaimed.
     */
    function settle(bytes32 jobId, address[] calldata providers, uint256[] calldata amounts)
        external
        nonReentrant
        onlyRole(SETTLER_ROLE)
    {
        Job storage job = _jobs[jobId];
        JobStatus status = job.status;
        if (status != JobStatus.Open) _revertNotOpen(jobId, status);
        _settle(jobId, job, providers, amounts);
    }

    /**
     * @notice Settles many jobs in one transaction. An entry whose job is already Settled or
     * Reclaimed is skipped with a SettlementSkipped event, so resending a batch after a crash is
     * harmless; any other invalid entry (unknown job, mismatched lengths, overspend) reverts the
     * whole batch, because it means the caller computed something wrong.
     * @return settled the number of entries that settled in this call.
     */
    function settleBatch(SettlementBatchEntry[] calldata entries)
        external
        nonReentrant
        onlyRole(SETTLER_ROLE)
        returns (uint256 settled)
    {
        for (uint256 i; i < entries.length; ++i) {
            SettlementBatchEntry calldata entry = entries[i];
            Job storage job = _jobs[entry.jobId];
            JobStatus status = job.status;
            if (status == JobStatus.Open) {
                _settle(entry.jobId, job, entry.providers, entry.amounts);
                ++settled;
            } else if (status == JobStatus.None) {
                revert UnknownJob(entry.jobId);
            } else {
                emit SettlementSkipped(entry.jobId, status);
            }
        }
    }

    // ──────────────────────────── payouts ────────────────────────────

    /// @notice Transfers the caller's whole credit in `token` to the caller.
    function withdraw(IERC20 token) external nonReentrant returns (uint256 amount) {
        amount = owed[msg.sender][address(token)];
        if (amount == 0) revert NothingToWithdraw(msg.sender, address(token));
        owed[msg.sender][address(token)] = 0;
        emit Withdrawn(msg.sender, address(token), amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ───────────────────────────── bonds ─────────────────────────────

    /**
     * @notice Adds `amount` of `token` to `provider`'s bond, paid by the caller: the provider itself
     * or anyone funding it (a deployment's funding step). Tokens that deliver less than `amount`
     * (fee on transfer) are rejected, as in deposit().
     */
    function postBond(address provider, IERC20 token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (provider == address(0) || address(token) == address(0)) revert ZeroAddress();
        Bond storage bond = _bonds[provider][address(token)];
        uint256 total = bond.bonded + amount;
        bond.bonded = total;
        emit BondPosted(provider, address(token), msg.sender, amount, total);

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(address(token), amount, received);
    }

    /**
     * @notice Moves `amount` of the caller's bond to unbonding, withdrawable UNBOND_DELAY from now. A
     * second request adds to the unbonding amount and restarts the clock for all of it, so there is
     * one amount and one time per (provider, token). Unbonding stays slashable until withdrawn.
     */
    function requestUnbond(IERC20 token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Bond storage bond = _bonds[msg.sender][address(token)];
        uint256 bonded = bond.bonded;
        if (amount > bonded) revert InsufficientBond(msg.sender, address(token), bonded, amount);
        bond.bonded = bonded - amount;
        bond.unbonding = SafeCast.toUint192(uint256(bond.unbonding) + amount);
        uint256 availableAt = block.timestamp + UNBOND_DELAY;
        bond.unbondableAt = SafeCast.toUint64(availableAt);
        emit UnbondRequested(msg.sender, address(token), amount, availableAt);
    }

    /// @notice Transfers the caller's whole unbonding amount to it, from `unbondableAt` on.
    function withdrawBond(IERC20 token) external nonReentrant returns (uint256 amount) {
        Bond storage bond = _bonds[msg.sender][address(token)];
        amount = bond.unbonding;
        if (amount == 0) revert NothingToWithdraw(msg.sender, address(token));
        uint256 availableAt = bond.unbondableAt;
        if (block.timestamp < availableAt) revert UnbondNotReady(availableAt);
        bond.unbonding = 0;
        bond.unbondableAt = 0;
        emit BondWithdrawn(msg.sender, address(token), amount);
        token.safeTransfer(msg.sender, amount);
    }

    /**
     * @notice Slashes up to `amount` of `provider`'s bond in `jobId`'s token — bonded first, then
     * unbonding — and credits half of it (rounded down) to `verifier` and the rest to the job's
     * payer. At most once per job, whatever the job's status; a provider with less bond than
     * `amount` loses what it has (possibly nothing: the job is still marked slashed).
     * @return slashed what actually left the bond.
     */
    function slash(bytes32 jobId, address provider, address verifier, uint256 amount)
        external
        nonReentrant
        onlyRole(SETTLER_ROLE)
        returns (uint256 slashed)
    {
        if (amount == 0) revert ZeroAmount();
        if (provider == address(0) || verifier == address(0)) revert ZeroAddress();
        Job storage job = _jobs[jobId];
        if (job.status == JobStatus.None) revert UnknownJob(jobId);
        if (_slashed[jobId]) revert AlreadySlashed(jobId);
        _slashed[jobId] = true;

        address token = job.token;
        slashed = _takeBond(_bonds[provider][token], amount);

        uint256 toVerifier = slashed / 2;
        uint256 toPayer = slashed - toVerifier;
        if (toVerifier != 0) owed[verifier][token] += toVerifier;
        if (toPayer != 0) owed[job.payer][token] += toPayer;
        emit Slashed(jobId, provider, token, slashed, toPayer, toVerifier, verifier);
    }

    // ───────────────────────────── views ─────────────────────────────

    function jobs(bytes32 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /**
     * @notice What the operator reads on restart: Settled means the settlement landed (its amounts
     * are in the Settled event of block `closedAtBlock`); Open means it did not and may be sent.
     */
    function settlementOf(bytes32 jobId) external view returns (JobStatus status, uint256 closedAtBlock) {
        Job storage job = _jobs[jobId];
        return (job.status, job.closedAtBlock);
    }

    /// @notice A provider's bond in `token`: slashable `bonded`, and `unbonding` (still slashable),
    /// withdrawable from `unbondableAt` (0 while nothing is unbonding).
    function bondOf(address provider, address token)
        external
        view
        returns (uint256 bonded, uint256 unbonding, uint256 unbondableAt)
    {
        Bond storage bond = _bonds[provider][token];
        return (bond.bonded, bond.unbonding, bond.unbondableAt);
    }

    /// @notice Whether `jobId` has been slashed (a second slash reverts with AlreadySlashed).
    function slashedOf(bytes32 jobId) external view returns (bool) {
        return _slashed[jobId];
    }

    // ─────────────────────────── internals ───────────────────────────

    /// @dev Credits only; no external call, so the job's bookkeeping cannot be re-entered.
    function _settle(bytes32 jobId, Job storage job, address[] calldata providers, uint256[] calldata amounts)
        private
    {
        if (providers.length != amounts.length) revert LengthMismatch(jobId, providers.length, amounts.length);
        address token = job.token;
        uint256 paid;
        for (uint256 i; i < providers.length; ++i) {
            address provider = providers[i];
            if (provider == address(0)) revert ZeroAddress();
            uint256 amount = amounts[i];
            paid += amount;
            owed[provider][token] += amount;
        }
        uint256 deposited = job.deposit;
        if (paid > deposited) revert SettlementExceedsDeposit(jobId, paid, deposited);
        job.status = JobStatus.Settled;
        job.closedAtBlock = uint48(block.number);
        uint256 refund = deposited - paid;
        if (refund != 0) {
            address payer = job.payer;
            owed[payer][token] += refund;
            emit Refunded(jobId, payer, token, refund);
        }
        emit Settled(jobId, token, providers, amounts, refund);
    }

    /// @dev Takes up to `amount` from the bond, bonded first, then unbonding; returns what it took.
    function _takeBond(Bond storage bond, uint256 amount) private returns (uint256 taken) {
        uint256 bonded = bond.bonded;
        uint256 fromBonded = amount < bonded ? amount : bonded;
        if (fromBonded != 0) bond.bonded = bonded - fromBonded;
        uint256 rest = amount - fromBonded;
        uint256 unbonding = bond.unbonding;
        uint256 fromUnbonding = rest < unbonding ? rest : unbonding;
        if (fromUnbonding != 0) {
            bond.unbonding = uint192(unbonding - fromUnbonding); // ≤ unbonding, which fits
            if (fromUnbonding == unbonding) bond.unbondableAt = 0;
        }
        return fromBonded + fromUnbonding;
    }

    function _revertNotOpen(bytes32 jobId, JobStatus status) private pure {
        if (status == JobStatus.Settled) revert AlreadySettled(jobId);
        if (status == JobStatus.Reclaimed) revert AlreadyReclaimed(jobId);
        revert UnknownJob(jobId);
    }
}
