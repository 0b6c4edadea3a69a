using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Configurations;

internal sealed class AnalyticsApplicationConfiguration : IEntityTypeConfiguration<AnalyticsApplicationEntity>
{
    public void Configure(EntityTypeBuilder<AnalyticsApplicationEntity> b)
    {
        b.ToTable("analytics_applications");
        b.HasKey(a => a.Name);
        b.Property(a => a.Name).HasMaxLength(128);
        b.Property(a => a.Arn).HasMaxLength(2048);
        b.Property(a => a.Description).HasMaxLength(1024);
        b.Property(a => a.Code).HasMaxLength(102400);
        b.Property(a => a.Status).HasMaxLength(16);
        b.Property(a => a.StartingPosition).HasMaxLength(32);
        b.Property(a => a.VersionId).IsConcurrencyToken();
    }
}

internal sealed class AnalyticsCheckpointConfiguration : IEntityTypeConfiguration<AnalyticsCheckpointEntity>
{
    public void Configure(EntityTypeBuilder<AnalyticsCheckpointEntity> b)
    {
        b.ToTable("analytics_checkpoints");
        b.HasKey(c => c.ApplicationName);
        b.Property(c => c.ApplicationName).HasMaxLength(128);
    }
}
